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

const GENERIC: Record<number, [string, string]> = {
  400: ['请求有误，请检查后重试', 'Something is not right. Please check and try again.'],
  401: ['登录已过期，请重新登录', 'Your session expired. Please sign in again.'],
  403: ['您没有权限进行此操作', 'You are not allowed to do this.'],
  404: ['找不到这条记录，或您已无权查看', 'Not found, or no longer yours to see.'],
  410: ['此链接已失效', 'This link is no longer valid.'],
  429: ['操作过于频繁，请稍后再试', 'Too many attempts. Please try again later.'],
  500: ['服务暂时不可用，请稍后再试', 'The service is unavailable right now. Please try again later.'],
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

  /** The problem's text in the reader's language; an answer without one (a proxy's error page, a bare
   * status) gets a plain sentence for its status — never the server's raw English text (issue 19). */
  localized(locale: string): string {
    const text = this.problem.message
    const zh = locale.startsWith('zh')
    if (text && typeof text.zh === 'string' && typeof text.en === 'string') return zh ? text.zh : text.en
    const [z, e] = GENERIC[this.status] ?? (this.status >= 500 ? GENERIC[500] : GENERIC[400])
    return zh ? z : e
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
