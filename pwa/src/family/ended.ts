// The grants this account held that have ended (the person revoked them, or they ran out): what the
// relative is told on the "access ended" screen and the landing page (issue 19 items 1 and 4).
import type { Grant } from './api'

const ENDED = new Set(['revoked', 'expired'])
/** Ended more than this long ago: no longer news. */
const RECENT_MS = 30 * 24 * 3600_000

/** The newest ended grant per person, newest first; `personId` narrows to one person. */
export function endedGrants(grants: Grant[], now = Date.now(), personId?: string): Grant[] {
  const live = new Set(grants.filter((g) => g.status === 'active' || g.status === 'pending').map((g) => g.person_id))
  const seen = new Set<string>()
  const out: Grant[] = []
  const at = (g: Grant) => Date.parse(g.ended_at ?? g.expires_at ?? g.created_at)
  for (const g of [...grants].sort((a, b) => at(b) - at(a))) {
    if (!ENDED.has(g.status) || live.has(g.person_id) || seen.has(g.person_id)) continue
    if (personId !== undefined && g.person_id !== personId) continue
    if (now - at(g) > RECENT_MS) continue
    seen.add(g.person_id)
    out.push(g)
  }
  return out
}
