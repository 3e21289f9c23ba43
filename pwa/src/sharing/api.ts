// Share links for a doctor, the patient's side (CONTRACT.md: POST/GET /api/v1/people/{person_id}/shares,
// DELETE /api/v1/shares/{share_id}); the doctor's side is doctor/api.ts.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type S = components['schemas']

export type Expiry = '1h' | '24h' | '72h' | '7d'
export const EXPIRIES: Expiry[] = ['1h', '24h', '72h', '7d']

export interface NewShare {
  study_ids: string[]
  expires_in: Expiry
  with_access_code: boolean
  allow_download: boolean
  /** how many times the link may be opened; null: no limit */
  max_opens?: number | null
  /** who it is for, shown wherever the share is named ("鼓楼医院 王医生") */
  recipient?: string | null
}

/** The choices the wizard offers for the number of opens (null: no limit). */
export const MAX_OPENS: (number | null)[] = [null, 1, 3, 5, 10]

const qrUri = (svg: string) => (svg.startsWith('data:') ? svg : `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`)

/** The answer to "create": `access_code` is shown once (the server keeps only its hash). */
export type CreatedShare = S['ShareCreated'] & { study_count: number; recipient: string | null }

export async function createShare(personId: string, s: NewShare): Promise<CreatedShare> {
  const body: S['ShareCreate'] = { ...s, all: false, include_reports: true }
  const r = await ok(api.POST('/api/v1/people/{person_id}/shares', { params: { path: { person_id: personId } }, body }))
  // qr_svg is an SVG document (qr_png a data: URI); an <img> wants a URI either way.
  return { ...r, qr_svg: qrUri(r.qr_svg), study_count: r.study_ids.length, recipient: s.recipient ?? null }
}

/** An open of the link or a view through it, with the browser named. */
export interface ShareEvent { at: string; kind: string; browser: string | null; object_id: string | null }

/** A share as listed, with its opens and views newest first and their browsers named. */
export type Share = Omit<S['ShareOut'], 'open_log' | 'views'> & { opened: ShareEvent[]; views: ShareEvent[] }

/** "Mozilla/5.0 … Chrome/120 …" → "Chrome": enough for "who opened it" without storing more. */
export function browserName(ua: string | null | undefined): string | null {
  if (!ua) return null
  const rules: [RegExp, string][] = [
    [/MicroMessenger/i, 'WeChat'], [/Edg\//, 'Edge'], [/OPR\/|Opera/, 'Opera'], [/Firefox\//, 'Firefox'],
    [/HeadlessChrome|Chrome\//, 'Chrome'], [/Safari\//, 'Safari'], [/curl|python|httpx/i, 'Script'],
  ]
  const name = rules.find(([re]) => re.test(ua))?.[1] ?? null
  const os = /iPhone|iPad/.test(ua) ? 'iOS' : /Android/.test(ua) ? 'Android' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : null
  return [name, os].filter(Boolean).join(' · ') || null
}

const event = (e: S['ShareOpen'] | S['ShareView']): ShareEvent => ({
  at: e.at, kind: 'event_type' in e ? e.event_type : 'share.open', browser: browserName(e.user_agent),
  object_id: 'object_id' in e ? e.object_id : null,
})
const newestFirst = (a: ShareEvent, b: ShareEvent) => b.at.localeCompare(a.at)

export async function listShares(personId: string, signal?: AbortSignal): Promise<Share[]> {
  const r = await ok(api.GET('/api/v1/people/{person_id}/shares', { params: { path: { person_id: personId } }, signal }))
  return r.items.map(({ open_log, views, ...s }) => ({
    ...s, opened: open_log.map(event).sort(newestFirst), views: views.map(event).sort(newestFirst),
  }))
}

export async function revokeShare(id: string): Promise<void> {
  await ok(api.DELETE('/api/v1/shares/{share_id}', { params: { path: { share_id: id } } }))
}

export function extendShare(id: string, expires_in: Expiry): Promise<S['ShareOut']> {
  return ok(api.POST('/api/v1/shares/{share_id}/extend', { params: { path: { share_id: id } }, body: { expires_in } }))
}

/** An active share's link and QR code again (issue 19 item 3); never its access code. */
export async function shareLink(id: string): Promise<S['ShareLink']> {
  const r = await ok(api.GET('/api/v1/shares/{share_id}/link', { params: { path: { share_id: id } } }))
  return { ...r, qr_svg: qrUri(r.qr_svg) }
}

/** A new access code (shown once); the old one stops working at once. */
export async function resetCode(id: string): Promise<string> {
  return (await ok(api.POST('/api/v1/shares/{share_id}/access-code', { params: { path: { share_id: id } } }))).access_code
}
