// Issue 19 item 1: which failures may mean access ended, and that every holder drops its memory of a person.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { forget, lostHandler, mayBeLost, onForget, personOf, reportFailure, shareMode } from './accessLost'
import { endedGrants } from '@/family/ended'
import type { Grant } from '@/family/api'

afterEach(() => {
  lostHandler.on = null
  shareMode.value = false
})

describe('access ended', () => {
  it('knows the person of an API path or preview URL', () => {
    expect(personOf('/api/v1/people/p%201/studies/s1')).toBe('p 1')
    expect(personOf('http://x/api/v1/people/p1/series/r/frames/3/preview.jpg?w=512')).toBe('p1')
    expect(personOf('/api/v1/me')).toBeNull()
  })

  it('reports a person\'s 403/404/410 and a share\'s 401, never a plain 401, 400 or 500', () => {
    expect([403, 404, 410].map((s) => mayBeLost('/api/v1/people/p1/timeline', s))).toEqual([true, true, true])
    expect([401, 400, 422, 500].map((s) => mayBeLost('/api/v1/people/p1/timeline', s))).toEqual([false, false, false, false])
    expect(mayBeLost('/api/v1/share/session', 401)).toBe(true)
    expect(mayBeLost('/dicomweb/studies/1.2/series/3/metadata', 404)).toBe(true)
    expect(mayBeLost('/api/v1/me', 404)).toBe(false)
    shareMode.value = true // a doctor's share session: its end shows as 401 on person paths too
    expect(mayBeLost('/api/v1/people/p1/studies/s1', 401)).toBe(true)
    const seen = vi.fn()
    lostHandler.on = seen
    reportFailure('/api/v1/people/p1/studies/s1', 404)
    reportFailure('/api/v1/people/p1/studies/s1', 500)
    expect(seen.mock.calls).toEqual([[{ path: '/api/v1/people/p1/studies/s1', status: 404, personId: 'p1' }]])
  })

  it('asks every holder to drop what it keeps', () => {
    const dropped: (string | null)[] = []
    onForget((pid) => dropped.push(pid))
    forget('p1')
    forget(null)
    expect(dropped).toEqual(['p1', null])
  })

  it('names the newest ended grant per person, not one shared again since, not old news', () => {
    const now = Date.parse('2026-12-06T08:00:00Z')
    const g = (id: string, person_id: string, status: string, ended_at: string | null) =>
      ({ id, person_id, person_name: '张*', status, ended_at, expires_at: null, created_at: '2026-01-01T00:00:00Z' }) as unknown as Grant
    const grants = [
      g('a', 'p1', 'revoked', '2026-12-05T08:00:00Z'), g('b', 'p1', 'revoked', '2026-11-05T08:00:00Z'),
      g('c', 'p2', 'revoked', '2026-12-01T08:00:00Z'), g('d', 'p2', 'active', null),
      g('e', 'p3', 'revoked', '2026-09-01T08:00:00Z'), g('f', 'p4', 'left', '2026-12-05T08:00:00Z'),
    ]
    expect(endedGrants(grants, now).map((x) => x.id)).toEqual(['a'])
    expect(endedGrants(grants, now, 'p2')).toEqual([])
  })
})
