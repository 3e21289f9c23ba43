// What a failed API call throws: ApiError for an HTTP error answer (RFC 9457 problem+json, as
// backend/errors.py renders it), NetworkError when no answer came. The API client's middleware
// (client.ts) raises them, so every caller sees the same two errors.

/** RFC 9457 problem details as rendered by backend/errors.py (AppError.to_problem): `code` is the slug of
 * `type`, `message` the text in both languages the service speaks. */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  code?: string
  message?: { zh: string; en: string }
  [extra: string]: unknown
}

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

  /** The problem's text in the reader's language. */
  localized(locale: string): string {
    const text = this.problem.message
    if (!text) return this.message
    return locale.startsWith('zh') ? text.zh : text.en
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
