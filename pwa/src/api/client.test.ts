// The API client's middleware, driven through the generated client with a fake server (a fetch
// function): CSRF double submit, problem+json errors, session renewal on 401, network failures.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { hooks, makeClient, serializeQuery } from './client'
import { ApiError, NetworkError } from './errors'

type Handler = (req: Request) => Response | Promise<Response>

function server(handler: Handler) {
  const seen: { method: string; path: string; headers: Headers; body: string }[] = []
  const fetch = vi.fn(async (req: Request) => {
    seen.push({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, headers: req.headers, body: await req.clone().text() })
    return handler(req)
  })
  return { fetch: fetch as unknown as typeof globalThis.fetch, seen }
}

const json = (body: unknown, status = 200, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } })
const problem = (status: number, detail: string, extra: Record<string, unknown> = {}) =>
  json({ type: `https://yunying.cn/problems/x`, title: 'Error', status, detail, ...extra }, status, 'application/problem+json')

let cookie = ''
beforeEach(() => {
  cookie = 'yy_csrf=tok-1; other=x'
  vi.stubGlobal('document', { get cookie() { return cookie } })
  hooks.unauthorized = null
})
afterEach(() => {
  hooks.unauthorized = null
})

const ME = { account: { id: 'a', nickname: null, subscribed: false, created_at: '2024-01-01T00:00:00Z' }, bound: false, person: null, people: [], consent_version: 'v1' }

describe('CSRF double submit (CONTRACT.md: X-CSRF-Token = cookie yy_csrf on unsafe methods)', () => {
  it('sends the cookie value on POST and DELETE, never on GET', async () => {
    const s = server((req) => (req.method === 'GET' ? json(ME) : new Response(null, { status: 204 })))
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch })
    await api.GET('/api/v1/me')
    await api.POST('/auth/logout')
    await api.DELETE('/api/v1/grants/{grant_id}', { params: { path: { grant_id: 'g/1' } } })
    expect(s.seen.map((r) => [r.method, r.path, r.headers.get('X-CSRF-Token')])).toEqual([
      ['GET', '/api/v1/me', null],
      ['POST', '/auth/logout', 'tok-1'],
      ['DELETE', '/api/v1/grants/g%2F1', 'tok-1'],
    ])
    expect(s.seen[0].headers.get('Accept')).toBe('application/json, application/problem+json')
  })

  it('sends no header when there is no cookie (the server then answers 403)', async () => {
    cookie = ''
    const s = server(() => new Response(null, { status: 204 }))
    await makeClient({ baseUrl: 'http://app.test', fetch: s.fetch }).POST('/auth/logout')
    expect(s.seen[0].headers.has('X-CSRF-Token')).toBe(false)
  })

  it('sends JSON bodies as JSON', async () => {
    const s = server(() => json({ expires_in: 600 }))
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch })
    const { data } = await api.POST('/api/v1/me/binding/otp', { body: { name: '王芳', resident_id: '320102198503120020' } })
    expect(data?.expires_in).toBe(600)
    expect(s.seen[0].headers.get('Content-Type')).toBe('application/json')
    expect(JSON.parse(s.seen[0].body)).toEqual({ name: '王芳', resident_id: '320102198503120020' })
  })
})

describe('errors', () => {
  it('turns a problem+json answer into an ApiError with its fields', async () => {
    const s = server(() => problem(404, 'No such record.', { code: 'record-not-found', message: { zh: '没有这条记录', en: 'No such record.' } }))
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch })
    const err = await api.GET('/api/v1/me').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    const e = err as ApiError
    expect([e.status, e.code, e.problem.type]).toEqual([404, 'record-not-found', 'https://yunying.cn/problems/x'])
    expect(e.localized('zh-CN')).toBe('没有这条记录')
  })

  it('keeps the status of a non-JSON error page (a proxy\'s HTML)', async () => {
    const s = server(() => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway', headers: { 'Content-Type': 'text/html' } }))
    const e = (await makeClient({ baseUrl: 'http://app.test', fetch: s.fetch }).GET('/api/v1/me').catch((x: unknown) => x)) as ApiError
    expect([e.status, e.message]).toEqual([502, 'Bad Gateway'])
  })

  it('turns a failed fetch into a NetworkError but lets an abort through', async () => {
    const down = makeClient({ baseUrl: 'http://app.test', fetch: (() => Promise.reject(new TypeError('Failed to fetch'))) as typeof fetch })
    await expect(down.GET('/api/v1/me')).rejects.toBeInstanceOf(NetworkError)
    const aborted = makeClient({ baseUrl: 'http://app.test', fetch: (() => Promise.reject(new DOMException('aborted', 'AbortError'))) as typeof fetch })
    await expect(aborted.GET('/api/v1/me')).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('an expired session (401)', () => {
  it('is renewed once and the request repeated, body and rotated CSRF token included', async () => {
    let calls = 0
    const s = server(() => (++calls === 1 ? problem(401, '请先登录 (login required).') : json({ id: 'b', person_id: 'p', created_at: '2024-01-01T00:00:00Z' }, 201)))
    const refresh = vi.fn(async () => {
      cookie = 'yy_csrf=tok-2'
      return true
    })
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch, refresh })
    const body = { name: '王芳', resident_id: '320102198503120020', otp: '123456', consent_version: 'v1' }
    const { data } = await api.POST('/api/v1/me/binding', { body })
    expect(data?.id).toBe('b')
    expect(refresh).toHaveBeenCalledTimes(1)
    expect(s.seen.map((r) => [r.method, r.headers.get('X-CSRF-Token'), JSON.parse(r.body)])).toEqual([
      ['POST', 'tok-1', body],
      ['POST', 'tok-2', body],
    ])
  })

  it('when renewal fails: tells the app (hooks.unauthorized with the path) and throws', async () => {
    const s = server(() => problem(401, '请先登录 (login required).'))
    const told: string[] = []
    hooks.unauthorized = (path) => told.push(path)
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch, refresh: async () => false })
    await expect(api.GET('/api/v1/people/{person_id}/timeline', { params: { path: { person_id: 'p1' }, query: { limit: 5 } } }))
      .rejects.toMatchObject({ status: 401 })
    expect(told).toEqual(['/api/v1/people/p1/timeline'])
    expect(s.seen).toHaveLength(1)
  })

  it('when the repeated request is refused again: no second renewal', async () => {
    const s = server(() => problem(401, 'no'))
    const refresh = vi.fn(async () => true)
    const told: string[] = []
    hooks.unauthorized = (path) => told.push(path)
    await expect(makeClient({ baseUrl: 'http://app.test', fetch: s.fetch, refresh }).GET('/api/v1/me')).rejects.toBeInstanceOf(ApiError)
    expect([refresh.mock.calls.length, s.seen.length, told]).toEqual([1, 2, ['/api/v1/me']])
  })

  it('is not renewed for /auth/ paths or without a CSRF cookie (no session to renew)', async () => {
    const refresh = vi.fn(async () => true)
    const s = server(() => problem(401, 'no'))
    const api = makeClient({ baseUrl: 'http://app.test', fetch: s.fetch, refresh })
    await expect(api.POST('/auth/logout')).rejects.toBeInstanceOf(ApiError)
    cookie = ''
    await expect(api.GET('/api/v1/me')).rejects.toBeInstanceOf(ApiError)
    expect(refresh).not.toHaveBeenCalled()
  })
})

describe('query strings', () => {
  it('leave out null, undefined and empty values', async () => {
    expect(serializeQuery({ kind: null, cursor: undefined, institution: '', limit: 30, q: 'a b' })).toBe('limit=30&q=a+b')
    const s = server(() => json({ items: [], next_cursor: null, counts: null }))
    await makeClient({ baseUrl: 'http://app.test', fetch: s.fetch })
      .GET('/api/v1/people/{person_id}/timeline', { params: { path: { person_id: 'p1' }, query: { kind: 'lab_result', cursor: null, limit: 30 } } })
    expect(s.seen[0].path).toBe('/api/v1/people/p1/timeline?kind=lab_result&limit=30')
  })
})
