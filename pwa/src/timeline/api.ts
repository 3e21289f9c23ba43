// The person's timeline (CONTRACT.md: GET /api/v1/people/{person_id}/timeline?kind=&cursor=&limit=).
// An item's `data` is typed per kind by the OpenAPI description (backend/records/schemas.py): a union
// discriminated by `kind`, plus a catch-all for kinds the app does not know (their data is untyped).
import { api, ok } from '@/api/client'
import { appRoute } from '@/api/links'
import type { components } from '@/api/schema'

type S = components['schemas']
export type TimelinePage = S['TimelineResponse']
export type TimelineItem = TimelinePage['items'][number]
/** Counts come on the first page only; before it, none are known. */
export type Counts = Partial<S['Counts']>

export interface TimelineQuery {
  kind?: string | null
  cursor?: string | null
  limit?: number
  institution?: string | null
}

export function getTimeline(personId: string, q: TimelineQuery, signal?: AbortSignal): Promise<TimelinePage> {
  const query = { kind: q.kind, cursor: q.cursor, limit: q.limit ?? 30, institution: q.institution }
  return ok(api.GET('/api/v1/people/{person_id}/timeline', { params: { path: { person_id: personId }, query }, signal }))
}

/** The item of a built-in kind, with its typed data. (`item.kind === k` alone leaves the catch-all in.) */
export function isKind<K extends string>(item: TimelineItem, kind: K): item is Extract<TimelineItem, { kind: K }> {
  return item.kind === kind
}

/** The app route of the item's detail screen, null when there is none. */
export function itemRoute(item: TimelineItem): string | null {
  return appRoute(item.detail_url)
}

/** An imaging study's modalities ("CT", "CR/DX"), null for other kinds. */
export function itemModality(item: TimelineItem): string | null {
  const mods = isKind(item, 'imaging_study') ? item.data.modalities : (item.data as Record<string, unknown>).modalities
  return Array.isArray(mods) && mods.length ? mods.join('/') : null
}

/** The card's summary in the reader's language: in English, the platform's own English line where it
 * wrote one (counts, "report not yet available"); the hospital's words stay as written (issue 19 item 7). */
export function itemSummary(item: TimelineItem, locale: string): string {
  const en = (item.data as Record<string, unknown>).summary_en
  return locale === 'en' && typeof en === 'string' && en ? en : item.summary
}

/** Abnormal results shown on the card (lab panels and checkups count them; 0 otherwise). */
export function abnormalCount(item: TimelineItem): number {
  if (isKind(item, 'lab_result') || isKind(item, 'checkup')) return item.data.abnormal_count
  const n = (item.data as Record<string, unknown>).abnormal_count
  return typeof n === 'number' ? n : 0
}
