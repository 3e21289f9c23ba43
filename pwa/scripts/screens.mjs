// Screenshots of every screen at phone size (390×844, touch), zh and en, normal and large text,
// against a running backend that serves pwa/dist. API answers are mocked (scripts/mock-api.mjs)
// until the backend's endpoints land.
// Usage: BASE_URL=http://127.0.0.1:8012 FIXTURE_DIR=/tmp/fixture OUT=../test-artifacts/pwa-screens npm run screens
import { mkdir } from 'node:fs/promises'
import { launch } from './chromium.mjs'
import { installMocks, ME_BOUND, ME_UNBOUND } from './mock-api.mjs'

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:8012'
const OUT = process.env.OUT ?? '../test-artifacts/pwa-screens'
const FIXTURE_DIR = process.env.FIXTURE_DIR
const ONLY = process.env.ONLY?.split(',')
await mkdir(OUT, { recursive: true })

const browser = await launch()

async function shot(name, { locale = 'zh-CN', largeText = false, me = ME_BOUND, path, timeline, timelineError, act } = {}) {
  if (ONLY && !ONLY.some((o) => name.includes(o))) return
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, locale })
  await ctx.addInitScript((prefs) => localStorage.setItem('yy.prefs', JSON.stringify(prefs)), { locale, largeText })
  const page = await ctx.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  await installMocks(page, { me, timeline, timelineError, fixtureDir: FIXTURE_DIR })
  await page.goto(BASE + path, { waitUntil: 'networkidle' })
  if (act) await act(page)
  await page.waitForTimeout(400)
  await page.screenshot({ path: `${OUT}/${name}.png` })
  console.log(`${name}.png  title=${JSON.stringify(await page.title())}  url=${new URL(page.url()).pathname}${errors.length ? '  ERRORS: ' + errors.join(' | ') : ''}`)
  await ctx.close()
}

const fillBinding = async (page) => {
  await page.fill('input[name=name]', '王芳')
  await page.fill('input[name=resident_id]', '320102198503120020')
  await page.getByRole('button', { name: /获取验证码|Send code/ }).click()
  await page.fill('input[name=otp]', '123456')
  await page.locator('.consent-check').click()
}

for (const [sfx, largeText] of [['', false], ['-large', true]]) {
  for (const locale of ['zh-CN', 'en']) {
    const l = locale === 'en' ? '-en' : ''
    await shot(`01-login${l}${sfx}`, { locale, largeText, me: null, path: '/timeline' })
    await shot(`02-binding${l}${sfx}`, { locale, largeText, me: ME_UNBOUND, path: '/timeline' })
    await shot(`03-binding-filled${l}${sfx}`, { locale, largeText, me: ME_UNBOUND, path: '/bind', act: fillBinding })
    await shot(`04-timeline-empty${l}${sfx}`, { locale, largeText, path: '/timeline', timeline: { items: [], next_cursor: null, counts: {} } })
    await shot(`05-timeline${l}${sfx}`, { locale, largeText, path: '/timeline' })
    await shot(`06-timeline-error${l}${sfx}`, { locale, largeText, path: '/timeline', timelineError: true })
    await shot(`07-settings${l}${sfx}`, { locale, largeText, path: '/settings' })
    await shot(`08-study${l}${sfx}`, { locale, largeText, path: '/people/p1/studies/s1' })
    await shot(`09-lab${l}${sfx}`, { locale, largeText, path: '/people/p1/labs/l1' })
    await shot(`10-checkup${l}${sfx}`, { locale, largeText, path: '/people/p1/checkups/c1' })
    if (FIXTURE_DIR) {
      await shot(`11-viewer${l}${sfx}`, { locale, largeText, path: '/people/p1/studies/s1/series/se1', act: (p) => p.waitForTimeout(800) })
      await shot(`12-viewer-lung${l}${sfx}`, {
        locale, largeText, path: '/people/p1/studies/s1/series/se1?frame=60',
        act: async (p) => { await p.getByRole('button', { name: /肺窗|Lung/ }).click(); await p.waitForTimeout(800) },
      })
      await shot(`13-viewer-grid${l}${sfx}`, {
        locale, largeText, path: '/people/p1/studies/s1/series/se1',
        act: async (p) => { await p.waitForTimeout(500); await p.getByRole('button', { name: /全部图像|All images/ }).click() },
      })
    }
  }
}
await browser.close()
