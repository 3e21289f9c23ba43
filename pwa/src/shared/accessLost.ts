// When access ends, say so at once (issue 19 item 1). A 403/404/410 on a person's data (a grant revoked
// while the relative is reading) or a 401/403/404/410 on a share session (the patient withdrew the link)
// is reported here by every path that fetches it — the API client's middleware, the viewer's preview
// requests, the doctor desk's DICOMweb calls. main.ts decides what it means (is the person still in
// /me? is the share session still live?) and, when access is really gone, drops what the app holds in
// memory for it (registered droppers) and shows a screen that says what happened and what to do next.
import { ref } from 'vue'

/** Statuses that may mean "no longer yours to see" (a missing object answers 404 too: main.ts checks). */
const PERSON_GONE = new Set([403, 404, 410])
const SHARE_GONE = new Set([401, 403, 404, 410])

export interface Lost {
  path: string
  status: number
  /** the person of a /api/v1/people/{id}/… path, else null */
  personId: string | null
}

/** The person id of an API path or URL under /api/v1/people/{id}/ (null for anything else). */
export function personOf(url: string): string | null {
  const path = new URL(url, 'http://same-origin.invalid').pathname
  const m = /^\/api\/v1\/people\/([^/]+)\//.exec(path)
  return m ? decodeURIComponent(m[1]) : null
}

/** Whether a failed answer could mean access ended; a path neither about a person nor a share never does. */
export function mayBeLost(url: string, status: number): boolean {
  const path = new URL(url, 'http://same-origin.invalid').pathname
  if (path.startsWith('/api/v1/share/') || path.startsWith('/dicomweb/')) return SHARE_GONE.has(status)
  return personOf(path) !== null && (PERSON_GONE.has(status) || (status === 401 && shareMode.value))
}

/** Set by main.ts. */
export const lostHandler: { on: ((lost: Lost) => void) | null } = { on: null }

/** True while the page works through a doctor's share session (set by the doctor routes). */
export const shareMode = ref(false)
/** The doctor's share has ended (withdrawn, expired, used up): the doctor screens show so. */
export const shareEnded = ref(false)

export function reportFailure(url: string, status: number): void {
  if (!mayBeLost(url, status)) return
  const path = new URL(url, 'http://same-origin.invalid').pathname
  lostHandler.on?.({ path, status, personId: personOf(path) })
}

type Dropper = (personId: string | null) => void
const droppers: Dropper[] = []

/** A module that keeps a person's data in memory registers how to drop it (null: everything). */
export function onForget(drop: Dropper): void {
  droppers.push(drop)
}

export function forget(personId: string | null): void {
  for (const drop of droppers) drop(personId)
}
