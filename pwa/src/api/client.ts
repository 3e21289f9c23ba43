// The API client: generated from the OpenAPI description (paths and bodies typed by schema.d.ts,
// calls made by openapi-fetch), with the shared behaviours as middleware —
//  - same-origin cookies, never cached (the service worker never caches /api/ either);
//  - CSRF double submit on unsafe methods (CONTRACT.md: header X-CSRF-Token = cookie yy_csrf);
//  - a 401 renews the session once (POST /auth/refresh) and repeats the request, else tells the app;
//  - an error answer throws ApiError (RFC 9457 problem+json), no answer throws NetworkError.
// Feature modules (auth/api.ts, timeline/api.ts, …) call `api.GET(...)` etc. through `ok()`.
// Why openapi-fetch (not hey-api's SDK generator): the only generated code is the types
// openapi-typescript already writes, the runtime is ~2 KB gzip with middleware hooks for exactly
// these behaviours, and calls read as the HTTP they make (`api.GET('/api/v1/me')`).
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { paths } from './schema'
import { ApiError, NetworkError, type Problem } from './errors'
import { reportFailure } from '@/shared/accessLost'

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Set by main.ts: called when any API answer says the session is gone (401). */
export const hooks: { unauthorized: ((path: string) => void) | null } = { unauthorized: null }

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return decodeURIComponent(v.join('='))
  }
  return null
}

let refreshing: Promise<boolean> | null = null

/**
 * The access cookie lives 15 minutes (backend/auth/sessions.py ACCESS_TTL); POST /auth/refresh
 * rotates it with the refresh cookie. Concurrent 401s share one refresh. True when renewed.
 */
export function refreshSession(): Promise<boolean> {
  refreshing ??= fetch('/auth/refresh', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': readCookie('yy_csrf') ?? '' },
  })
    .then((r) => r.ok, () => false)
    .finally(() => setTimeout(() => (refreshing = null), 0))
  return refreshing
}

/** Query strings as the backend expects them: null, undefined and '' are left out. */
export function serializeQuery(query: Record<string, unknown>): string {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') qs.set(k, String(v))
  return qs.toString()
}

async function problemOf(res: Response): Promise<Problem> {
  let problem: Problem = { status: res.status, title: res.statusText }
  if ((res.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      problem = { ...problem, ...(await res.clone().json()) }
    } catch {
      /* a proxy's HTML error page: keep the status */
    }
  }
  return problem
}

/** The middleware of every API call: CSRF header, session renewal, errors. `refresh` is injectable for tests. */
export function sessionMiddleware(refresh: () => Promise<boolean> = refreshSession): Middleware {
  // Each request keeps a copy of itself (a body is consumed when sent) for the retry after a refresh.
  const copies = new Map<string, Request>()
  return {
    onRequest({ request, id }) {
      request.headers.set('Accept', 'application/json, application/problem+json')
      if (UNSAFE.has(request.method)) {
        const csrf = readCookie('yy_csrf')
        if (csrf) request.headers.set('X-CSRF-Token', csrf)
      }
      copies.set(id, request.clone())
      return request
    },
    async onResponse({ request, response, id, options }) {
      const copy = copies.get(id)
      copies.delete(id)
      if (response.ok) return response
      const path = new URL(request.url, 'http://same-origin.invalid').pathname
      if (response.status === 401 && copy && !path.startsWith('/auth/') && readCookie('yy_csrf')) {
        if (await refresh()) {
          const csrf = readCookie('yy_csrf') // rotated with the session
          if (csrf && UNSAFE.has(copy.method)) copy.headers.set('X-CSRF-Token', csrf)
          let again: Response
          try {
            again = await options.fetch(copy)
          } catch (e) {
            throw networkError(e)
          }
          if (again.ok) return again
          response = again
        }
      }
      const problem = await problemOf(response)
      if (response.status === 401) hooks.unauthorized?.(path)
      reportFailure(request.url, response.status) // a revoked grant or withdrawn share: said at once
      throw new ApiError(problem)
    },
    onError({ error, id }) {
      copies.delete(id)
      return networkError(error)
    },
  }
}

function networkError(e: unknown): Error {
  // An abort is the caller's own doing (a page left, a filter changed): passed on as it is.
  if (e instanceof DOMException && e.name === 'AbortError') return e
  return new NetworkError(e)
}

export type ApiClient = Client<paths>

/** A client for `baseUrl` (tests pass their own `fetch`); the app uses `api`. */
export function makeClient(opts: { baseUrl?: string; fetch?: typeof fetch; refresh?: () => Promise<boolean> } = {}): ApiClient {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl ?? '',
    credentials: 'same-origin',
    cache: 'no-store',
    querySerializer: serializeQuery,
    // Resolved at call time, so a test's or a polyfill's global fetch is used.
    fetch: opts.fetch ?? ((input: Request, init?: RequestInit) => globalThis.fetch(input, init)),
  })
  client.use(sessionMiddleware(opts.refresh))
  return client
}

export const api = makeClient()

/**
 * The data of a successful call. Error answers never get here (the middleware throws ApiError),
 * so `data` is the 2xx body, or undefined for 204 No Content.
 */
export async function ok<D>(call: Promise<{ data?: D; error?: unknown }>): Promise<D> {
  const { data } = await call
  return data as D
}
