// Shared pieces of the end-to-end suite: the browser (Debian's Chromium through playwright-core,
// which lives in pwa/node_modules), phone contexts, screenshots, the simulator login, touch input.
// Configured by tests/e2e/run.sh through the environment: E2E_BASE_URL, E2E_ARTIFACTS, CHROMIUM.
import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

// playwright-core is a devDependency of the PWA: resolve it from there, not from tests/.
const require = createRequire(new URL('../../pwa/package.json', import.meta.url))
const { chromium } = require('playwright-core')

export const BASE = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8000'
export const ARTIFACTS = process.env.E2E_ARTIFACTS ?? 'test-artifacts/e2e'
mkdirSync(ARTIFACTS, { recursive: true })

// The flags the issue asks for: no sandbox (containers), no GPU, and nothing that talks to the
// network on its own (the suite must only ever reach the loopback backend).
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']

export function launch() {
  // playwright-core gives every launch a fresh, empty temporary user-data dir (removed on close).
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  })
}

/** A phone: 390×844 CSS px, touch, mobile viewport, Chinese unless told otherwise. */
export async function phone(browser, { locale = 'zh-CN' } = {}) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale,
    acceptDownloads: true,
  })
  context.setDefaultTimeout(30_000)
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  return { context, page, errors }
}

/** Saves a screenshot of the current screen as <artifacts>/<name>.png (CSS transitions finished first). */
export async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path, animations: 'disabled' })
  return path
}

/** Signs in through the PWA's login button and the WeChat simulator's user picker. */
export async function login(page, openid, { next = '/timeline', onPicker } = {}) {
  await page.goto(`${BASE}/login?next=${encodeURIComponent(next)}`)
  await page.locator('button.wechat').click()
  // The simulator's authorize page lists the known users; the link carries sim_user= (CONTRACT.md).
  const pick = page.locator(`a[href*="sim_user=${openid}"]`)
  await pick.waitFor()
  if (onPicker) await onPicker(page)
  await pick.click()
  await page.waitForURL((u) => !u.pathname.startsWith('/_sim/') && !u.pathname.startsWith('/auth/') && u.pathname !== '/login')
}

/**
 * Touch input through the DevTools protocol: Chromium turns these into touch *and* pointer events
 * (pointerType "touch"), exactly what a finger on a phone produces. Playwright only offers taps.
 */
export async function touch(page) {
  const cdp = await page.context().newCDPSession(page)
  const send = (type, points) => cdp.send('Input.dispatchTouchEvent', {
    type, touchPoints: points.map(([x, y], id) => ({ x, y, id, radiusX: 4, radiusY: 4, force: 1 })),
  })
  return {
    /** One finger from `from` to `to` in `steps` moves. */
    async drag(from, to, steps = 25) {
      await send('touchStart', [from])
      for (let i = 1; i <= steps; i++) {
        await send('touchMove', [[from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps]])
      }
      await send('touchEnd', [])
    },
    /** Two fingers around (cx, cy) spreading from `d0` to `d1` px apart, vertically. */
    async pinch([cx, cy], d0, d1, steps = 12) {
      const at = (d) => [[cx, cy - d / 2], [cx, cy + d / 2]]
      await send('touchStart', at(d0))
      for (let i = 1; i <= steps; i++) await send('touchMove', at(d0 + ((d1 - d0) * i) / steps))
      await send('touchEnd', [])
    },
    detach: () => cdp.detach(),
  }
}

/**
 * This machine has no CJK system font (Debian's chromium brings none): give the browser the project's
 * own bundled font (reports/fonts, a subset of Noto Sans CJK SC) under a family name the app's font
 * stacks already list, so Chinese text in screenshots is readable, as on a doctor's Windows PC with
 * Microsoft YaHei. Test environment only: the app itself is unchanged.
 */
export async function cjkFont(context) {
  const fonts = new URL('../../reports/fonts/', import.meta.url)
  for (const [weight, file] of [['400', 'YunyingSansSC-Regular.woff2'], ['700', 'YunyingSansSC-Bold.woff2']]) {
    await context.route(`**/__e2e-font/${weight}.woff2`, (route) => route.fulfill({ path: new URL(file, fonts).pathname, contentType: 'font/woff2' }))
  }
  await context.addInitScript(() => {
    const css = "@font-face{font-family:'Noto Sans CJK SC';font-weight:400;src:url(/__e2e-font/400.woff2) format('woff2')}" +
      "@font-face{font-family:'Noto Sans CJK SC';font-weight:700;src:url(/__e2e-font/700.woff2) format('woff2')}" +
      "html,body{font-family:-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif}"
    const add = () => {
      const style = document.createElement('style')
      style.textContent = css
      document.head.appendChild(style)
    }
    if (document.head) add()
    else document.addEventListener('DOMContentLoaded', add, { once: true })
  })
}
