// Lab results (backend/labs): one panel with its items, and an item's trend over earlier results.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type S = components['schemas']
export type LabResult = S['LabReportOut']
export type LabItem = S['LabItemOut']

/** A panel's results, newest data first as the hospital sent them. */
export function getLab(personId: string, labId: string, signal?: AbortSignal): Promise<LabResult> {
  return ok(api.GET('/api/v1/people/{person_id}/labs/{lab_id}', { params: { path: { person_id: personId, lab_id: labId } }, signal }))
}

/** The PDF of a lab report. */
export function labPdfUrl(personId: string, labId: string): string {
  return `/api/v1/people/${encodeURIComponent(personId)}/labs/${encodeURIComponent(labId)}/report.pdf`
}

/** The app route of a lab result (a checkup links its panels). */
export function labRoute(personId: string, labId: string): string {
  return `/people/${encodeURIComponent(personId)}/labs/${encodeURIComponent(labId)}`
}

/** When the sample was taken, else when the result was reported. */
export const labDate = (lab: LabResult): string => lab.collected_at ?? lab.reported_at

/** What /labs/trends?code= accepts: the analyte key, else the LOINC code, else the hospital's code, else the name. */
export const trendCode = (i: LabItem): string => i.analyte || i.loinc || i.code || i.name

/** The flag to show (H, L, HH, LL, critical, A); null when the item is normal. */
export const shownFlag = (i: LabItem): string | null => (i.flag && i.flag !== 'N' ? i.flag : null)

/** An item's numeric results over time, with the reference range of the latest one. */
export interface Trend {
  name: string
  unit: string | null
  ref_low: number | null
  ref_high: number | null
  points: { at: string; value: number; flag: string | null }[]
}

export async function getTrend(personId: string, code: string, signal?: AbortSignal): Promise<Trend> {
  const r = await ok(api.GET('/api/v1/people/{person_id}/labs/trends', { params: { path: { person_id: personId }, query: { code } }, signal }))
  // Without a code the same path lists the trendable items instead; with one it answers the trend.
  if (!('points' in r)) throw new Error('no trend in the answer')
  const pts = r.points.filter((p): p is typeof p & { value: number } => typeof p.value === 'number')
  const last = pts[pts.length - 1]
  return {
    name: r.name, unit: r.unit ?? null, ref_low: last?.ref_low ?? null, ref_high: last?.ref_high ?? null,
    points: pts.map((p) => ({ at: p.at, value: p.value, flag: p.flag ?? null })),
  }
}
