// The doctor's share session (opened by GET /s/{token} and POST /s/{token}/session): the patient's
// header and the shared studies. Study details and images come through imaging/api.ts as for patients.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type S = components['schemas']
export type DoctorSession = S['ShareSessionOut']
export type DoctorStudy = S['SharedStudy']

/** The doctor view's header and studies; 401 share-session-required when there is no live share session. */
export function shareSession(signal?: AbortSignal): Promise<DoctorSession> {
  return ok(api.GET('/api/v1/share/session', { signal }))
}
