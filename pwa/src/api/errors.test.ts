import { describe, expect, it } from 'vitest'
import { ApiError } from './errors'

describe('ApiError', () => {
  it('carries status, code and the text in the reader\'s language (the problem\'s message)', () => {
    const e = new ApiError({
      status: 429, title: 'Too many requests', detail: 'Too many attempts.', code: 'rate-limited',
      message: { zh: '操作过于频繁', en: 'Too many attempts.' },
    })
    expect([e.status, e.code, e.unauthorized]).toEqual([429, 'rate-limited', false])
    expect(e.localized('zh-CN')).toBe('操作过于频繁')
    expect(e.localized('en')).toBe('Too many attempts.')
  })

  it('shows the detail when a problem has no message (an answer not from this backend)', () => {
    expect(new ApiError({ status: 502, detail: 'Bad gateway at the proxy' }).localized('zh-CN')).toBe('Bad gateway at the proxy')
  })

  it('falls back to the title, then the status', () => {
    expect(new ApiError({ status: 502, title: 'Bad Gateway' }).message).toBe('Bad Gateway')
    expect(new ApiError({ status: 401 }).message).toBe('HTTP 401')
    expect(new ApiError({ status: 401 }).unauthorized).toBe(true)
  })
})
