// Share links (patient side) and the doctor's share session: every call, raw answers (schema.d.ts)
// mapped onto the app's shapes — adapt backend changes here.
import { request } from '@/shared/http'
import type { components } from './schema'
import { appRoute } from './endpoints'

type S = components['schemas']
const V1 = '/api/v1'
const enc = encodeURIComponent

export type Expiry = '1h' | '24h' | '72h' | '7d'
export const EXPIRIES: Expiry[] = ['1h', '24h', '72h', '7d']

export interface NewShare {
  study_ids: string[]
  expires_in: Expiry
  with_access_code: boolean
  allow_download: boolean
}

export interface CreatedShare {
  id: string
  url: string
  access_code: string | null // shown once: the server keeps only its hash
  expires_at: string
  study_count: number
  qr_svg: string
}

export async function createShare(personId: string, s: NewShare): Promise<CreatedShare> {
  const body: S['ShareCreate'] = { ...s, all: false, include_reports: true }
  const r = await request<S['ShareCreated']>(`${V1}/people/${enc(personId)}/shares`, { method: 'POST', json: body })
  // qr_svg is an SVG document (qr_png a data: URI); an <img> wants a URI either way.
  const qr = r.qr_svg.startsWith('data:') ? r.qr_svg : `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.qr_svg)}`
  return { id: r.id, url: r.url, access_code: r.access_code, expires_at: r.expires_at, study_count: r.study_ids.length, qr_svg: qr }
}

export interface ShareEvent { at: string; kind: string; browser: string | null; object_id: string | null }

export interface Share {
  id: string
  status: S['ShareOut']['status']
  created_at: string
  expires_at: string
  study_ids: string[]
  all: boolean
  allow_download: boolean
  has_access_code: boolean
  opens: number
  max_opens: number | null
  opened: ShareEvent[] // newest first
  views: ShareEvent[]
}

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

const event = (e: { at: string; user_agent: string | null; event_type?: string; object_id?: string | null }): ShareEvent =>
  ({ at: e.at, kind: e.event_type ?? 'share.open', browser: browserName(e.user_agent), object_id: e.object_id ?? null })

export async function listShares(personId: string, signal?: AbortSignal): Promise<Share[]> {
  const r = await request<S['ShareList']>(`${V1}/people/${enc(personId)}/shares`, { signal })
  return r.items.map((s) => ({
    id: s.id, status: s.status, created_at: s.created_at, expires_at: s.expires_at, study_ids: s.study_ids, all: s.scope === 'all',
    allow_download: s.allow_download, has_access_code: s.has_access_code, opens: s.opens, max_opens: s.max_opens,
    opened: s.open_log.map(event).sort((a, b) => b.at.localeCompare(a.at)),
    views: s.views.map(event).sort((a, b) => b.at.localeCompare(a.at)),
  }))
}

export function revokeShare(id: string): Promise<void> {
  return request<void>(`${V1}/shares/${enc(id)}`, { method: 'DELETE' })
}

export function extendShare(id: string, expires_in: Expiry): Promise<S['ShareOut']> {
  return request<S['ShareOut']>(`${V1}/shares/${enc(id)}/extend`, { method: 'POST', json: { expires_in } })
}

export interface DoctorStudy {
  id: string
  occurred_at: string
  title: string
  modality: string
  body_part: string | null
  institution: string | null
  has_report: boolean
  route: string | null // /people/{pid}/studies/{sid}
  report_pdf_url: string | null
  download_url: string | null
}

export interface DoctorSession {
  person_id: string
  patient: S['SharedPatient']
  studies: DoctorStudy[]
  note: string | null
  allow_download: boolean
  download_all_url: string | null
  expires_at: string
}

/** The doctor view's header and studies; 401 share-session-required when there is no live share session. */
export async function shareSession(signal?: AbortSignal): Promise<DoctorSession> {
  const r = await request<S['ShareSessionOut']>(`${V1}/share/session`, { signal })
  return {
    person_id: r.person_id, patient: r.patient, note: r.note, allow_download: r.allow_download,
    download_all_url: r.download_all_url, expires_at: r.expires_at,
    studies: r.studies.map((s) => ({
      id: s.id, occurred_at: s.occurred_at, title: s.title, modality: s.modalities.join('/'), body_part: s.body_part ?? null,
      institution: s.institution?.name ?? null, has_report: s.has_report, route: appRoute(s.detail_url),
      report_pdf_url: s.report_pdf_url ?? null, download_url: s.download_url ?? null,
    })),
  }
}
