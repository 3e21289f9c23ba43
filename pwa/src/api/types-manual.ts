// The shapes the screens use. The backend's raw answers are typed by schema.d.ts (generated from
// /openapi.json by `npm run gen:api`); endpoints.ts is the only module that reads them and maps
// them onto these, so a backend change is adapted in one place. Where the OpenAPI description has
// no schema (the scrub answer is a free-form JSON response), the raw shape is declared here and
// marked "not in openapi.json".

export type Id = string

export interface Me {
  account: { id: Id; nickname: string | null }
  bound: boolean
  /** the person this account is bound to (本人), null before identity binding */
  person: PersonRef | null
  /** every person the account may act for: itself and family grants */
  people: PersonRef[]
  /** the consent text version binding must send back */
  consent_version: string
}

export interface PersonRef {
  id: Id
  relation: string // "self" | family relation
  name_masked: string
}

export interface BindingOtpAnswer {
  // The same answer for every input (no oracle): no phone digits until the code proves the phone.
  expires_in: number | null // seconds
  resend_after: number // seconds before "send again"
}

export interface BindingRequest {
  name: string
  resident_id: string
  otp: string
  consent_version: string
}

export type RecordKind = 'imaging_study' | 'lab_result' | 'checkup' | (string & {})

export interface TimelineItem {
  id: Id // the timeline entry
  kind: RecordKind
  kind_label: { zh: string; en: string } | null
  ref_id: Id // the study / lab report / checkup
  occurred_at: string
  title: string
  summary: string | null
  status: string | null
  institution: { id: Id; name: string | null } | null
  /** the app route of the detail screen (from the API's detail_url), null when there is none */
  route: string | null
  modality: string | null
  abnormal: number
}

export interface TimelinePage {
  items: TimelineItem[]
  next_cursor: string | null
  counts: { total?: number; by_kind?: Record<string, number>; by_year?: Record<string, number> } | null
}

export interface Report {
  findings: string | null
  impression: string | null
  status: string | null // "final" | "preliminary" | "amended"
  reported_at?: string | null
  physician?: string | null
}

export interface Series {
  id: Id
  number: number | null
  description: string | null
  modality: string | null
  /** instances (a multi-frame instance counts once; the scrub layout has the real frame count) */
  frames: number
  thumbnail_url: string | null
  /** URL of the scrub answer (layout + sheets + per-frame preview templates) in the default window */
  scrub_url: string | null
  /** the middle frame, default window, 512 wide: shown while the scrub strip is being made */
  preview_url: string | null
  positions?: (number | null)[] | null
  frame_time_ms?: number | null
}

export interface Prior {
  id: Id
  occurred_at: string | null
  title: string
  route: string | null
  institution: string | null
}

export interface Study {
  id: Id
  description: string | null
  modality: string | null
  body_part: string | null
  study_date: string | null
  institution: string | null
  accession_number?: string | null
  report: Report | null
  series: Series[]
  report_pdf_url: string | null
}

/** The scrub-strip layout the backend's imaging/rendering/scrub.py produces. */
export interface ScrubLayout {
  version: number
  format: string
  frame_count: number
  tile: { width: number; height: number }
  cell: { width: number; height: number }
  columns: number
  sheets: { width: number; height: number; first_frame: number; count: number }[]
  /** frames[i] = [sheet index, x, y] of frame i's top-left on its sheet */
  frames: [number, number, number][]
}

/** Raw GET /api/v1/people/{pid}/series/{sid}/scrub?window= answer (not in openapi.json). */
export interface ScrubAnswer extends ScrubLayout {
  key: string
  window: string
  sheet_urls: string[]
  widths: string[] // "128" … "1024", "full"
  formats: Record<string, string> // {"jpeg": "jpg", "webp": "webp"}
  windows: { id: string; name_zh: string; name_en: string }[]
  /** one per frame: a URL with {window}, {width} and {ext} to fill in */
  frame_urls: string[]
}

export interface LabResult {
  id: Id
  title: string
  collected_at: string | null
  institution: string | null
  status: string | null
  items: LabItem[]
  report_pdf_url: string
}

export interface LabItem {
  /** what /labs/trends?code= accepts: the analyte key, else the code, else the name */
  trend_code: string
  name: string
  value: string
  value_number: number | null
  unit: string | null
  ref_low: number | null
  ref_high: number | null
  ref_text: string | null
  flag: string | null // H, L, HH, LL, critical, A — null or N when normal
}

export interface TrendPoint {
  at: string
  value: number
  flag: string | null
}

export interface Trend {
  name: string
  unit: string | null
  ref_low: number | null
  ref_high: number | null
  points: TrendPoint[]
}

export interface Checkup {
  id: Id
  title: string
  performed_at: string | null
  institution: string | null
  conclusions: string[]
  recommendations: string[]
  sections: { title: string; summary: string | null; items: { name: string; value: string | null; unit?: string | null; flag?: string | null; ref_text?: string | null }[] }[]
  lab_panels: { id: Id; title: string; abnormal: number; route: string }[]
}

/** RFC 9457 problem details as rendered by backend/errors.py */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  code?: string
  [extra: string]: unknown
}
