import { describe, expect, it } from 'vitest'
import { ApiError, bilingual } from './errors'

describe('bilingual: the one place that splits "中文 (English)." details', () => {
  it('splits the backend\'s "中文 (English)." into both languages', () => {
    expect(bilingual('验证码错误或已过期 (wrong or expired code).')).toEqual({ zh: '验证码错误或已过期', en: 'Wrong or expired code.' })
  })

  it('keeps an English ending punctuation and capitalises', () => {
    expect(bilingual('请先登录 (login required!)')).toEqual({ zh: '请先登录', en: 'Login required!' })
  })

  it('prefers message_zh when the problem carries one', () => {
    expect(bilingual('Open the share link first.', '请先打开分享链接。')).toEqual({ zh: '请先打开分享链接。', en: 'Open the share link first.' })
    expect(bilingual('链接 (link).', '分享链接')).toEqual({ zh: '分享链接', en: 'Link.' })
  })

  it('leaves a one-language detail whole in both', () => {
    expect(bilingual('No such record.')).toEqual({ zh: 'No such record.', en: 'No such record.' })
    // Parentheses inside the text are not the English half.
    expect(bilingual('CT (胸部) 已上传')).toEqual({ zh: 'CT (胸部) 已上传', en: 'CT (胸部) 已上传' })
  })
})

describe('ApiError', () => {
  it('carries status, code and the detail in the reader\'s language', () => {
    const e = new ApiError({ status: 429, title: 'Too many requests', detail: '操作过于频繁 (too many attempts).', code: 'rate-limited' })
    expect([e.status, e.code, e.unauthorized]).toEqual([429, 'rate-limited', false])
    expect(e.localized('zh-CN')).toBe('操作过于频繁')
    expect(e.localized('en')).toBe('Too many attempts.')
  })

  it('falls back to the title, then the status', () => {
    expect(new ApiError({ status: 502, title: 'Bad Gateway' }).message).toBe('Bad Gateway')
    expect(new ApiError({ status: 401 }).message).toBe('HTTP 401')
    expect(new ApiError({ status: 401 }).unauthorized).toBe(true)
  })
})
