// Every backend endpoint the PWA calls, in one place: raw answers typed from the generated
// schema.d.ts, mapped onto the app's shapes in types-manual.ts. Adapt backend changes here.
import { request, withQuery } from '@/shared/http'
import type { components } from './schema'
import type {
  BindingOtpAnswer, BindingRequest, Checkup, LabItem, LabResult, Me, PersonRef, Prior, ScrubAnswer, Series, Study,
  TimelineItem, TimelinePage, Trend,
} from './types-manual'

type S = components['schemas']
const V1 = '/api/v1'
const enc = encodeURIComponent

/** "/api/v1/people/p/studies/s" → "/people/p/studies/s": API detail URLs double as app routes. */
export function appRoute(detailUrl: string | null | undefined): string | null {
  if (!detailUrl) return null
  const path = detailUrl.split('?')[0]
  return path.startsWith(V1 + '/people/') ? path.slice(V1.length) : null
}

export function wechatLoginUrl(next: string): string {
  return withQuery('/auth/wechat/start', { next })
}

const person = (p: S['PersonRef']): PersonRef => ({ id: p.id, relation: p.relation, name_masked: p.masked_name || p.name })

export async function getMe(signal?: AbortSignal): Promise<Me> {
  const raw = await request<S['MeOut']>(`${V1}/me`, { signal })
  return {
    account: { id: raw.account.id, nickname: raw.account.nickname ?? null },
    bound: raw.bound,
    person: raw.person ? person(raw.person) : null,
    people: raw.people.map(person),
    consent_version: raw.consent_version,
  }
}

export async function sendBindingOtp(body: S['OtpIn']): Promise<BindingOtpAnswer> {
  const raw = await request<S['OtpOut']>(`${V1}/me/binding/otp`, { method: 'POST', json: body })
  return { expires_in: raw.expires_in ?? null, resend_after: 60 }
}

export function bind(body: BindingRequest): Promise<S['BindingOut']> {
  return request<S['BindingOut']>(`${V1}/me/binding`, { method: 'POST', json: body satisfies S['BindingIn'] })
}

/** Withdraws consent and ends the binding (family grants and share links stop working). */
export function withdrawConsent(): Promise<void> {
  return request<void>(`${V1}/me/binding`, { method: 'DELETE' })
}

/** Ends this browser session at once (the server clears the cookies). */
export function logout(): Promise<void> {
  return request<void>('/auth/logout', { method: 'POST' })
}

function timelineItem(r: S['TimelineItem']): TimelineItem {
  const data = (r.data ?? {}) as Record<string, unknown>
  const modalities = Array.isArray(data.modalities) ? (data.modalities as string[]) : []
  return {
    id: r.id,
    kind: r.kind,
    kind_label: r.kind_label ? { zh: r.kind_label, en: r.kind_label_en } : null,
    ref_id: r.ref_id,
    occurred_at: r.occurred_at,
    title: r.title,
    summary: r.summary || null,
    status: r.status ?? null,
    institution: r.institution ? { id: r.institution.id, name: r.institution.name ?? null } : null,
    route: appRoute(r.detail_url),
    modality: modalities.length ? modalities.join('/') : null,
    abnormal: typeof data.abnormal_count === 'number' ? data.abnormal_count : 0,
  }
}

export async function getTimeline(
  personId: string,
  q: { kind?: string | null; cursor?: string | null; limit?: number; institution?: string | null },
  signal?: AbortSignal,
): Promise<TimelinePage> {
  const raw = await request<S['TimelineResponse']>(`${V1}/people/${enc(personId)}/timeline`, {
    query: { kind: q.kind, cursor: q.cursor, limit: q.limit ?? 30, institution: q.institution },
    signal,
  })
  return { items: raw.items.map(timelineItem), next_cursor: raw.next_cursor ?? null, counts: raw.counts ?? null }
}

function series(r: S['SeriesOut']): Series {
  const p = r.previews ?? {}
  return {
    id: r.id,
    number: r.number ?? null,
    description: r.description ?? null,
    modality: r.modality ?? null,
    frames: r.instance_count,
    thumbnail_url: p.thumbnail ?? null,
    scrub_url: p.scrub ?? null,
    preview_url: p.preview ?? null,
  }
}

// The study answer, remembered briefly in memory (never stored) so that opening the viewer from the
// study page does not wait for the same request again.
const recentStudies = new Map<string, { at: number; study: Study }>()
const RECENT_MS = 60_000

export async function getStudy(personId: string, studyId: string, signal?: AbortSignal): Promise<Study> {
  const base = `${V1}/people/${enc(personId)}/studies/${enc(studyId)}`
  const hit = recentStudies.get(base)
  if (hit && Date.now() - hit.at < RECENT_MS) return hit.study
  const study = await fetchStudy(base, signal)
  recentStudies.set(base, { at: Date.now(), study })
  for (const k of [...recentStudies.keys()].slice(0, -5)) recentStudies.delete(k)
  return study
}

async function fetchStudy(base: string, signal?: AbortSignal): Promise<Study> {
  const s = await request<S['StudyDetail']>(base, { signal })
  return {
    id: s.id,
    description: s.title || s.description || null,
    modality: s.modalities.join('/') || null,
    body_part: s.body_part ?? null,
    study_date: s.occurred_at,
    institution: s.institution?.name ?? null,
    accession_number: s.accession_number ?? null,
    report: s.report
      ? { findings: s.report.findings, impression: s.report.impression, status: s.report.status, reported_at: s.report.reported_at, physician: s.report.reporting_physician ?? null }
      : null,
    series: s.series.map(series),
    // CONTRACT.md: GET /api/v1/people/{pid}/studies/{sid}/report.pdf
    report_pdf_url: s.report ? `${base}/report.pdf` : null,
  }
}

export async function getPriors(personId: string, studyId: string, signal?: AbortSignal): Promise<Prior[]> {
  const raw = await request<S['PriorsResponse']>(`${V1}/people/${enc(personId)}/studies/${enc(studyId)}/priors`, { signal })
  return raw.items.map((p) => ({ id: p.id, occurred_at: p.occurred_at, title: p.title, route: appRoute(p.detail_url), institution: p.institution?.name ?? null }))
}

/** The scrub answer of a series in one window (the server renders the strip on first request). */
export function getScrub(scrubUrl: string, windowId: string, signal?: AbortSignal): Promise<ScrubAnswer> {
  const url = new URL(scrubUrl, 'http://same-origin.invalid')
  url.searchParams.set('window', windowId)
  return request<ScrubAnswer>(url.pathname + url.search, { signal })
}

/** The server's window id of a custom centre/width (backend/imaging/previews/spec.py: c<C>w<W>). */
export function customWindowId(center: number, width: number): string {
  return `c${Math.round(center)}w${Math.max(1, Math.round(width))}`
}

/**
 * URL of a sharp preview of one frame: the scrub answer's per-frame template with {window},
 * {width} (one of the server's widths, the smallest ≥ the wanted pixels) and {ext}.
 */
export function previewUrl(scrub: ScrubAnswer, frame: number, windowId: string, pixels: number): string | null {
  const t = scrub.frame_urls[frame]
  if (!t) return null
  const numeric = scrub.widths.filter((w) => /^\d+$/.test(w)).map(Number).sort((a, b) => a - b)
  const width = numeric.find((w) => w >= pixels) ?? numeric[numeric.length - 1] ?? 512
  return t.replaceAll('{window}', enc(windowId)).replaceAll('{width}', String(width)).replaceAll('{ext}', scrub.formats.jpeg ?? 'jpg')
}

function labItem(i: S['LabItemOut']): LabItem {
  return {
    trend_code: i.analyte || i.loinc || i.code || i.name,
    name: i.name,
    value: i.value,
    value_number: i.value_number ?? null,
    unit: i.unit ?? null,
    ref_low: i.ref_low ?? null,
    ref_high: i.ref_high ?? null,
    ref_text: i.reference_range ?? null,
    flag: i.flag && i.flag !== 'N' ? i.flag : null,
  }
}

export async function getLab(personId: string, id: string, signal?: AbortSignal): Promise<LabResult> {
  const r = await request<S['LabReportOut']>(`${V1}/people/${enc(personId)}/labs/${enc(id)}`, { signal })
  return {
    id: r.id, title: r.panel_name, collected_at: r.collected_at ?? r.reported_at, institution: r.institution?.name ?? null,
    status: r.status, items: r.items.map(labItem),
    report_pdf_url: `${V1}/people/${enc(personId)}/labs/${enc(id)}/report.pdf`,
  }
}

export async function getTrend(personId: string, code: string, signal?: AbortSignal): Promise<Trend> {
  const r = await request<S['TrendResponse']>(`${V1}/people/${enc(personId)}/labs/trends`, { query: { code }, signal })
  const pts = r.points.filter((p): p is typeof p & { value: number } => typeof p.value === 'number')
  const last = pts[pts.length - 1]
  return {
    name: r.name, unit: r.unit ?? null, ref_low: last?.ref_low ?? null, ref_high: last?.ref_high ?? null,
    points: pts.map((p) => ({ at: p.at, value: p.value, flag: p.flag ?? null })),
  }
}

export async function getCheckup(personId: string, id: string, signal?: AbortSignal): Promise<Checkup> {
  const r = await request<S['CheckupOut']>(`${V1}/people/${enc(personId)}/checkups/${enc(id)}`, { signal })
  return {
    id: r.id, title: r.package_name, performed_at: r.exam_date, institution: r.institution?.name ?? null,
    conclusions: r.conclusions, recommendations: r.recommendations,
    sections: r.sections.map((s) => ({
      title: s.name, summary: s.summary ?? null,
      items: (s.items ?? []).map((i) => ({ name: i.name, value: i.result, unit: i.unit, flag: i.flag, ref_text: i.reference })),
    })),
    lab_panels: r.lab_panels.map((l) => ({ id: l.id, title: l.panel_name, abnormal: l.abnormal_count, route: `/people/${enc(personId)}/labs/${enc(l.id)}` })),
  }
}
