// Imaging studies on the person's side (CONTRACT.md: GET /api/v1/people/{person_id}/studies/{study_id}),
// their priors, and the previews the viewer draws (backend/imaging/previews: scrub answer, frame URLs).
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'
import { onForget } from '@/shared/accessLost'

type S = components['schemas']
/** A study as the API answers it, plus the link of its report PDF (null without a report). */
export type Study = S['StudyDetail'] & { report_pdf_url: string | null }
/** A series; `previews` has thumbnail/preview/scrub URLs when the series has images, else nothing. */
export type Series = S['SeriesOut']
export type Prior = S['PriorStudy']
export type ScrubAnswer = S['ScrubAnswer']
/** What the scrub strip needs of the answer (backend/imaging/rendering/scrub.py's layout). */
export type ScrubLayout = Pick<ScrubAnswer, 'frame_count' | 'tile' | 'sheets' | 'frames'>

// The study answer, remembered briefly in memory (never stored) so that opening the viewer from the
// study page does not wait for the same request again.
const recentStudies = new Map<string, { at: number; study: Study }>()
const RECENT_MS = 60_000
// Access ended: the remembered answers go at once (else Back would show the report again).
onForget((personId) => {
  for (const k of [...recentStudies.keys()]) if (personId === null || k.startsWith(`${personId}\u0000`)) recentStudies.delete(k)
})

export async function getStudy(personId: string, studyId: string, signal?: AbortSignal): Promise<Study> {
  const key = `${personId}\u0000${studyId}`
  const hit = recentStudies.get(key)
  if (hit && Date.now() - hit.at < RECENT_MS) return hit.study
  const path = { person_id: personId, study_id: studyId }
  const s = await ok(api.GET('/api/v1/people/{person_id}/studies/{study_id}', { params: { path }, signal }))
  // CONTRACT.md: GET /api/v1/people/{pid}/studies/{sid}/report.pdf
  const pdf = `/api/v1/people/${encodeURIComponent(personId)}/studies/${encodeURIComponent(studyId)}/report.pdf`
  const study: Study = { ...s, report_pdf_url: s.report ? pdf : null }
  recentStudies.set(key, { at: Date.now(), study })
  for (const k of [...recentStudies.keys()].slice(0, -5)) recentStudies.delete(k)
  return study
}

/** Earlier studies of the same body part and modality, newest first. */
export async function getPriors(personId: string, studyId: string, signal?: AbortSignal): Promise<Prior[]> {
  const path = { person_id: personId, study_id: studyId }
  return (await ok(api.GET('/api/v1/people/{person_id}/studies/{study_id}/priors', { params: { path }, signal }))).items
}

/**
 * The scrub answer of a series in one window (the server renders the strip on first request).
 * `scrubUrl` is the series' `previews.scrub` (URLs are the server's to build, see previews/urls.py).
 */
export function getScrub(scrubUrl: string, windowId: string, signal?: AbortSignal): Promise<ScrubAnswer> {
  const url = new URL(scrubUrl, 'http://same-origin.invalid')
  const m = /^\/api\/v1\/people\/([^/]+)\/series\/([^/]+)\/scrub$/.exec(url.pathname)
  if (!m) return Promise.reject(new Error(`not a scrub URL: ${url.pathname}`))
  const path = { person_id: decodeURIComponent(m[1]), series_id: decodeURIComponent(m[2]) }
  const answer = ok(api.GET('/api/v1/people/{person_id}/series/{series_id}/scrub', { params: { path, query: { window: windowId } }, signal }))
  // openapi-fetch's Readable<> widens tuples to arrays; the spec's `frames` items are [sheet, x, y].
  return answer as Promise<ScrubAnswer>
}

/** The server's window id of a custom centre/width (backend/imaging/previews/spec.py: c<C>w<W>). */
export function customWindowId(center: number, width: number): string {
  return `c${Math.round(center)}w${Math.max(1, Math.round(width))}`
}

/**
 * URL of a sharp preview of one frame: the scrub answer's per-frame template with {window},
 * {width} (one of the server's widths, the smallest ≥ the wanted pixels) and {ext}.
 */
export function previewUrl(scrub: Pick<ScrubAnswer, 'frame_urls' | 'widths' | 'formats'>, frame: number, windowId: string, pixels: number): string | null {
  const t = scrub.frame_urls[frame]
  if (!t) return null
  const numeric = scrub.widths.filter((w) => /^\d+$/.test(w)).map(Number).sort((a, b) => a - b)
  const width = numeric.find((w) => w >= pixels) ?? numeric[numeric.length - 1] ?? 512
  return t.replaceAll('{window}', encodeURIComponent(windowId)).replaceAll('{width}', String(width)).replaceAll('{ext}', scrub.formats.jpeg ?? 'jpg')
}
