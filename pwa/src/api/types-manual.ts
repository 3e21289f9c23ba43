// Hand-written API shapes, used until src/api/schema.d.ts (generated from /openapi.json by
// `npm run gen:api`) covers these endpoints. These are ASSUMPTIONS made while the backend was
// being built; src/api/endpoints.ts is the only module that reads raw JSON, so when the real
// shapes differ, adapt there (or here) and nothing else has to change.

export type Id = string

/** GET /api/v1/me */
export interface Me {
  account: { id: Id; nickname: string | null; avatar_url?: string | null }
  /** the person this account is bound to (本人), null before identity binding */
  person: { id: Id; name_masked: string } | null
  /** every person the account may act for: itself (relation "self") and family grants */
  people: PersonRef[]
}

export interface PersonRef {
  id: Id
  relation: string // "self" | "parent" | "child" | "spouse" | ... (free text from the grant)
  name_masked: string
}

/** POST /api/v1/me/binding/otp {name, resident_id} */
export interface BindingOtpAnswer {
  phone_masked: string // e.g. "138****8000"
  expires_in?: number // seconds
  resend_after?: number // seconds
}

/** POST /api/v1/me/binding {name, resident_id, otp, consent_version} → answers a fresh Me (assumed) */
export interface BindingRequest {
  name: string
  resident_id: string
  otp: string
  consent_version: string
}

export type RecordKind = 'imaging_study' | 'lab_result' | 'checkup' | (string & {})

/** one row of GET /api/v1/people/{pid}/timeline */
export interface TimelineItem {
  id: Id
  kind: RecordKind
  occurred_at: string // ISO 8601 date or date-time
  title: string
  summary: string | null
  institution: string | null // hospital name
  detail_url: string | null // API URL of the detail resource (we route by kind + id instead)
  modality?: string | null
  thumbnail_url?: string | null
  flags?: { abnormal?: number } | null
}

export interface TimelinePage {
  items: TimelineItem[]
  next_cursor: string | null
  counts?: { by_kind?: Record<string, number>; by_year?: Record<string, number>; by_institution?: Record<string, number> }
}

export interface Report {
  findings: string | null
  impression: string | null
  status: string | null // "final" | "preliminary" | "amended"
  reported_at?: string | null
  radiologist?: string | null
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

export interface WindowPresetRef {
  id: string // "lung" | "mediastinum" | "bone" | "brain" | "abdomen" | "auto" | "file-0" ...
  label_zh?: string
  label_en?: string
  center?: number | null
  width?: number | null
}

export interface Series {
  id: Id
  number: number | null
  description: string | null
  modality: string | null
  frames: number // number of slices (instances × frames) in display order
  thumbnail_url: string | null
  /** slice positions along the normal (mm), same order as frames, when known — for the overlay */
  positions?: (number | null)[] | null
  frame_time_ms?: number | null // cine: time between frames
  scrub: { sheets: string[]; layout_url?: string | null; layout?: ScrubLayout | null } | null
  /**
   * How to ask for a sharp preview of one frame. ASSUMPTION: a URL template with the placeholders
   * {frame} (0-based index in the series), {window} (preset id, or "custom") , {center}, {width_hu}
   * (only for custom windows) and {width} (requested pixel width). Alternatively the server may
   * give `frame_urls` (one URL per frame, default window) — both are handled in endpoints.ts.
   */
  previews: { url_template?: string | null; frame_urls?: string[] | null; presets?: WindowPresetRef[] | null }
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
  priors?: { id: Id; study_date: string | null; description: string | null }[]
}

/** ASSUMED: GET /api/v1/people/{pid}/labs/{id} */
export interface LabResult {
  id: Id
  title: string
  collected_at: string | null
  institution: string | null
  items: LabItem[]
}

export interface LabItem {
  code: string
  name: string
  value: number | string | null
  unit: string | null
  ref_low?: number | null
  ref_high?: number | null
  ref_text?: string | null
  flag?: 'H' | 'L' | 'HH' | 'LL' | 'N' | 'A' | null
  history?: { at: string; value: number }[] // same item in earlier results, oldest first
}

/** ASSUMED: GET /api/v1/people/{pid}/checkups/{id} */
export interface Checkup {
  id: Id
  title: string
  performed_at: string | null
  institution: string | null
  conclusion: string | null
  sections: { title: string; items: { name: string; value: string | null; unit?: string | null; flag?: string | null; ref_text?: string | null }[] }[]
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
