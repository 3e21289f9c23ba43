// Handing a link to someone: copy it, or inside WeChat set the share card (JS-SDK) so that
// "··· → 发送给朋友" sends a titled card instead of a bare URL. The JS-SDK is loaded only inside
// WeChat (JS-SDK 说明文档 步骤二: https://res.wx.qq.com/open/js/jweixin-1.6.0.js), signed by our
// backend for this page's URL without its #fragment (GET /api/v1/wechat/jssdk-config).
import { api, ok } from '@/api/client'

export const inWeChat = (): boolean => /MicroMessenger/i.test(navigator.userAgent)

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    // Older WebViews, or no clipboard permission: the textarea fallback.
    const ta = document.createElement('textarea')
    ta.value = text
    ta.setAttribute('readonly', '')
    ta.style.position = 'fixed'
    ta.style.opacity = '0'
    document.body.appendChild(ta)
    ta.select()
    const ok = document.execCommand('copy')
    ta.remove()
    return ok
  }
}

interface Wx {
  config(c: Record<string, unknown>): void
  ready(f: () => void): void
  error(f: (e: unknown) => void): void
  updateAppMessageShareData(d: { title: string; desc: string; link: string; imgUrl: string }): void
}

let sdk: Promise<Wx> | null = null
function loadSdk(): Promise<Wx> {
  sdk ??= new Promise<Wx>((resolve, reject) => {
    const s = document.createElement('script')
    s.src = 'https://res.wx.qq.com/open/js/jweixin-1.6.0.js'
    s.onload = () => ((window as unknown as { wx?: Wx }).wx ? resolve((window as unknown as { wx: Wx }).wx) : reject(new Error('no wx')))
    s.onerror = () => reject(new Error('jssdk load failed'))
    document.head.appendChild(s)
  })
  return sdk
}

/** Inside WeChat: make the page's "send to friend" card point at `link`. Resolves true when set. */
export async function setWeChatShareCard(card: { title: string; desc: string; link: string }): Promise<boolean> {
  if (!inWeChat()) return false
  try {
    const url = location.href.split('#')[0]
    const [wx, cfg] = await Promise.all([loadSdk(), ok(api.GET('/api/v1/wechat/jssdk-config', { params: { query: { url } } }))])
    return await new Promise<boolean>((resolve) => {
      wx.config({ debug: false, ...cfg, jsApiList: ['updateAppMessageShareData'] })
      wx.ready(() => {
        wx.updateAppMessageShareData({ ...card, imgUrl: new URL('/icons/icon-192.png', location.origin).href })
        resolve(true)
      })
      wx.error(() => resolve(false))
    })
  } catch {
    return false
  }
}
