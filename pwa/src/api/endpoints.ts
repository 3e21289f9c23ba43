// Every backend endpoint the PWA calls, in one place. Raw JSON → the types in types-manual.ts.
// When the backend's real shapes land, adapt the `normalize*` functions here.
import { request, withQuery } from '@/shared/http'
import type { BindingOtpAnswer, BindingRequest, Checkup, LabResult, Me, ScrubLayout, Series, Study, TimelinePage } from './types-manual'

const V1 = '/api/v1'
const enc = encodeURIComponent

export const CONSENT_VERSION = '2026-11-01'

export function wechatLoginUrl(next: string): string {
  return withQuery('/auth/wechat/start', { next })
}

export async function getMe(signal?: AbortSignal): Promise<Me> {
  const raw = await request<Partial<Me>>(`${V1}/me`, { signal })
  return {
    account: raw.account ?? { id: '', nickname: null },
    person: raw.person ?? null,
    people: raw.people ?? (raw.person ? [{ id: raw.person.id, relation: 'self', name_masked: raw.person.name_masked }] : []),
  }
}

export function sendBindingOtp(body: { name: string; resident_id: string }): Promise<BindingOtpAnswer> {
  return request<BindingOtpAnswer & { phone?: string }>(`${V1}/me/binding/otp`, { method: 'POST', json: body }).then(
    (r) => ({ ...r, phone_masked: r.phone_masked ?? r.phone ?? '' }),
  )
}

export function bind(body: BindingRequest): Promise<unknown> {
  return request(`${V1}/me/binding`, { method: 'POST', json: body })
}

/** ASSUMED path: withdraws consent and unbinds the account from its person. */
export function withdrawConsent(): Promise<unknown> {
  return request(`${V1}/me/binding`, { method: 'DELETE' })
}

/** ASSUMED path: ends the browser session (clears the session cookie). */
export function logout(): Promise<unknown> {
  return request(`/auth/logout`, { method: 'POST' })
}

export function getTimeline(
  personId: string,
  q: { kind?: string | null; cursor?: string | null; limit?: number; institution?: string | null },
  signal?: AbortSignal,
): Promise<TimelinePage> {
  return request<TimelinePage>(`${V1}/people/${enc(personId)}/timeline`, {
    query: { kind: q.kind, cursor: q.cursor, limit: q.limit ?? 30, institution: q.institution },
    signal,
  }).then((p) => ({ items: p.items ?? [], next_cursor: p.next_cursor ?? null, counts: p.counts ?? {} }))
}

export function getStudy(personId: string, studyId: string, signal?: AbortSignal): Promise<Study> {
  return request<Study>(`${V1}/people/${enc(personId)}/studies/${enc(studyId)}`, { signal }).then((s) => ({
    ...s,
    series: (s.series ?? []).map(normalizeSeries),
    report_pdf_url: s.report_pdf_url ?? `${V1}/people/${enc(personId)}/studies/${enc(studyId)}/report.pdf`,
  }))
}

function normalizeSeries(s: Series): Series {
  return { ...s, frames: s.frames ?? s.scrub?.layout?.frame_count ?? 1, previews: s.previews ?? {} }
}

export function getLab(personId: string, id: string, signal?: AbortSignal): Promise<LabResult> {
  return request<LabResult>(`${V1}/people/${enc(personId)}/labs/${enc(id)}`, { signal })
}

export function getCheckup(personId: string, id: string, signal?: AbortSignal): Promise<Checkup> {
  return request<Checkup>(`${V1}/people/${enc(personId)}/checkups/${enc(id)}`, { signal })
}

/** The scrub layout, inline in the study answer or behind `layout_url`. */
export async function getScrubLayout(series: Series, signal?: AbortSignal): Promise<ScrubLayout | null> {
  if (!series.scrub) return null
  if (series.scrub.layout) return series.scrub.layout
  if (!series.scrub.layout_url) return null
  return request<ScrubLayout>(series.scrub.layout_url, { signal })
}

export type WindowSpec = { preset: string } | { center: number; width: number }

/**
 * URL of a sharp preview of one frame. ASSUMPTION (documented in types-manual.ts): the server gives
 * `previews.url_template` with {frame}, {window}, {center}, {width_hu}, {width}; a custom window is
 * sent as window=custom plus center/width_hu. Without a template, `frame_urls[i]` gets query
 * parameters `window=` (or `wc=`/`ww=`) and `width=` appended.
 */
export function previewUrl(series: Series, frame: number, win: WindowSpec, pixelWidth: number): string | null {
  const isPreset = 'preset' in win
  const t = series.previews.url_template
  if (t) {
    return t
      .replaceAll('{frame}', String(frame))
      .replaceAll('{window}', isPreset ? enc(win.preset) : 'custom')
      .replaceAll('{center}', isPreset ? '' : String(Math.round(win.center)))
      .replaceAll('{width_hu}', isPreset ? '' : String(Math.round(win.width)))
      .replaceAll('{width}', String(pixelWidth))
  }
  const base = series.previews.frame_urls?.[frame]
  if (!base) return null
  return withQuery(base, isPreset ? { window: win.preset, width: pixelWidth } : { wc: Math.round(win.center), ww: Math.round(win.width), width: pixelWidth })
}
