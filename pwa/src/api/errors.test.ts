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

  it('says a plain sentence for the status when a problem has no message (an answer not from this backend)', () => {
    // No message of our own: a plain sentence for the status, never the raw server text (issue 19 item 1).
    expect(new ApiError({ status: 502, detail: 'Bad gateway at the proxy' }).localized('zh-CN')).toBe('服务暂时不可用，请稍后再试')
    expect(new ApiError({ status: 404, detail: 'No such person.' }).localized('zh-CN')).toBe('找不到这条记录，或您已无权查看')
    expect(new ApiError({ status: 404, detail: 'No such person.' }).localized('en')).not.toContain('No such person')
  })

  it('falls back to the title, then the status', () => {
    expect(new ApiError({ status: 502, title: 'Bad Gateway' }).message).toBe('Bad Gateway')
    expect(new ApiError({ status: 401 }).message).toBe('HTTP 401')
    expect(new ApiError({ status: 401 }).unauthorized).toBe(true)
  })
})
