// What a failed API call throws: ApiError for an HTTP error answer (RFC 9457 problem+json, as
// backend/errors.py renders it), NetworkError when no answer came. The API client's middleware
// (client.ts) raises them, so every caller sees the same two errors.

/** RFC 9457 problem details as rendered by backend/errors.py (AppError.to_problem). */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  code?: string
  [extra: string]: unknown
}

/**
 * The two languages of a problem's detail. The backend writes details as "中文 (English)." and some
 * problems carry `message_zh` besides. The only place that splits such a string: when problems carry
 * both texts as fields, this is the one function to replace.
 */
export function bilingual(detail: string, messageZh?: unknown): { zh: string; en: string } {
  const zh = typeof messageZh === 'string' ? messageZh : null
  const m = /^(.*?)\s*\(([^()]*)\)\.?$/.exec(detail)
  if (!m) return { zh: zh ?? detail, en: detail }
  const en = m[2].trim()
  return { zh: zh ?? m[1], en: en.charAt(0).toUpperCase() + en.slice(1) + (/[.!?]$/.test(en) ? '' : '.') }
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

  /** The detail in the reader's language (only the half of "中文 (English)." that matches the locale). */
  localized(locale: string): string {
    const text = bilingual(this.message, this.problem.message_zh)
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
