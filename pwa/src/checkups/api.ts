// Checkups (backend/checkups): the package, its sections, conclusions and attached lab panels.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

export type Checkup = components['schemas']['CheckupOut']

export function getCheckup(personId: string, checkupId: string, signal?: AbortSignal): Promise<Checkup> {
  return ok(api.GET('/api/v1/people/{person_id}/checkups/{checkup_id}', { params: { path: { person_id: personId, checkup_id: checkupId } }, signal }))
}

export type VitalSeries = components['schemas']['VitalSeries']

/** Blood pressure, weight and BMI over the years (issue 19 item 5), oldest first. */
export async function getVitals(personId: string, signal?: AbortSignal): Promise<VitalSeries[]> {
  return (await ok(api.GET('/api/v1/people/{person_id}/checkups/vitals', { params: { path: { person_id: personId } }, signal }))).series
}
