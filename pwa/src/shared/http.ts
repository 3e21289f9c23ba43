// The one fetch wrapper: same-origin cookies, CSRF double submit on unsafe methods (CONTRACT.md:
// header X-CSRF-Token = cookie yy_csrf) and RFC 9457 problem+json turned into typed errors.
import type { Problem } from '@/api/types-manual'

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export class ApiError extends Error {
  readonly status: number
  readonly code: string | null
  readonly problem: Problem

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`)
    this.name = 'ApiError'
    this.status = problem.status
    this.code = typeof problem.code === 'string' ? problem.code : null
    this.problem = problem
  }

  get unauthorized(): boolean {
    return this.status === 401
  }

  /**
   * The detail in the reader's language. The backend writes details as "中文 (English)." and some
   * problems carry `message_zh`; show only the half that matches the locale.
   */
  localized(locale: string): string {
    const zh = typeof this.problem.message_zh === 'string' ? this.problem.message_zh : null
    const m = /^(.*?)\s*\(([^()]*)\)\.?$/.exec(this.message)
    if (locale.startsWith('zh')) return zh ?? (m ? m[1] : this.message)
    if (!m) return this.message
    const en = m[2].trim()
    return en.charAt(0).toUpperCase() + en.slice(1) + (/[.!?]$/.test(en) ? '' : '.')
  }
}

/** A network failure (offline, DNS, aborted by the server): shown as "check your connection". */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super('network error')
    this.name = 'NetworkError'
    this.cause = cause
  }
}

/** Set by main.ts: called when any API answer says the session is gone (401). */
export const hooks: { unauthorized: ((path: string) => void) | null } = { unauthorized: null }

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return decodeURIComponent(v.join('='))
  }
  return null
}

export interface RequestOptions {
  method?: string
  query?: Record<string, string | number | null | undefined>
  json?: unknown
  signal?: AbortSignal
}

export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') qs.set(k, String(v))
  const s = qs.toString()
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path
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

export async function request<T>(path: string, opts: RequestOptions = {}, retried = false): Promise<T> {
  const method = (opts.method ?? 'GET').toUpperCase()
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' }
  if (opts.json !== undefined) headers['Content-Type'] = 'application/json'
  if (UNSAFE.has(method)) {
    const csrf = readCookie('yy_csrf')
    if (csrf) headers['X-CSRF-Token'] = csrf
  }
  let res: Response
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: opts.signal,
    })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new NetworkError(e)
  }
  if (res.status === 204) return undefined as T
  const type = res.headers.get('Content-Type') ?? ''
  if (!res.ok) {
    let problem: Problem = { status: res.status, title: res.statusText }
    if (type.includes('json')) {
      try {
        problem = { ...problem, ...(await res.json()) }
      } catch {
        /* a proxy's HTML error page: keep the status */
      }
    }
    if (res.status === 401 && !retried && !path.startsWith('/auth/') && readCookie('yy_csrf')) {
      if (await refreshSession()) return request<T>(path, opts, true)
    }
    if (res.status === 401) hooks.unauthorized?.(path)
    throw new ApiError(problem)
  }
  return (type.includes('json') ? res.json() : res.text()) as Promise<T>
}
