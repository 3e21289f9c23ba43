// Screenshots of every screen at phone size (390×844, touch), zh and en, normal and large text,
// against a live backend with the demo data (`yunying demo seed`), logging in through the WeChat
// simulator. Empty and error states use mocked answers (scripts/mock-api.mjs).
// Usage: BASE_URL=http://127.0.0.1:8012 OUT=../test-artifacts/pwa-screens npm run screens
//   (the backend's YUNYING_PUBLIC_URL must equal BASE_URL, so the login redirects come back)
import { mkdir } from 'node:fs/promises'
import { launch } from './chromium.mjs'
import { installMocks } from './mock-api.mjs'

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:8012'
const OUT = process.env.OUT ?? '../test-artifacts/pwa-screens'
const ONLY = process.env.ONLY?.split(',')
await mkdir(OUT, { recursive: true })
const browser = await launch()

async function login(page, user) {
  await page.goto(`${BASE}/login?next=/timeline`)
  await page.locator('button.wechat').click()
  await page.locator(`a[href*="sim_user=${user}"]`).click() // the simulator's user picker
  await page.waitForURL((u) => !u.pathname.startsWith('/_sim/') && !u.pathname.startsWith('/auth/'))
  await page.waitForLoadState('networkidle')
}

const open = (selector) => async (page) => {
  await page.locator(selector).first().click()
  await page.waitForLoadState('networkidle')
}

async function shot(name, { locale = 'zh-CN', largeText = false, user = 'demo-patient', mocks, path, act } = {}) {
  if (ONLY && !ONLY.some((o) => name.includes(o))) return
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, locale })
  await ctx.addInitScript((prefs) => localStorage.setItem('yy.prefs', JSON.stringify(prefs)), { locale, largeText })
  const page = await ctx.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  if (user) await login(page, user)
  if (mocks) await installMocks(page, mocks)
  if (path) await page.goto(BASE + path, { waitUntil: 'networkidle' })
  if (act) await act(page)
  await page.waitForTimeout(500)
  await page.screenshot({ path: `${OUT}/${name}.png` })
  console.log(`${name}.png  ${JSON.stringify(await page.title())}  ${new URL(page.url()).pathname}${errors.length ? '  ERRORS: ' + errors.join(' | ') : ''}`)
  await ctx.close()
}

const fillBinding = async (page) => {
  await page.fill('input[name=name]', '王芳')
  await page.fill('input[name=resident_id]', '320102198503120020')
  await page.locator('form .van-field__button button').click()
  // The code is sent (status) or refused, e.g. rate-limited after many runs (alert): shoot either.
  await page.locator('[role=status], [role=alert]').first().waitFor()
  if (await page.getByRole('alert').count()) return
  const inbox = await (await page.request.get(`${BASE}/_sim/wechat/inbox`)).json()
  const sms = inbox.find((m) => m.kind === 'sms')
  await page.fill('input[name=otp]', sms?.code ?? '000000')
  await page.locator('.consent-check').click()
}

const viewer = (extra) => async (page) => {
  await open('.item.kind-imaging_study')(page)
  await page.locator('a.series').first().click()
  await page.waitForFunction(() => !document.querySelector('.preparing'), null, { timeout: 60000 })
  await page.waitForLoadState('networkidle')
  if (extra) await extra(page)
}

for (const [sfx, largeText] of [['', false], ['-large', true]]) {
  for (const locale of ['zh-CN', 'en']) {
    const o = { locale, largeText }
    const l = (n) => `${n}${locale === 'en' ? '-en' : ''}${sfx}`
    await shot(l('01-login'), { ...o, user: null, path: '/timeline' })
    await shot(l('02-binding'), { ...o, user: 'demo-new' })
    await shot(l('03-binding-filled'), { ...o, user: 'demo-new', act: fillBinding })
    await shot(l('04-timeline-empty'), { ...o, mocks: {}, path: '/timeline' })
    await shot(l('05-timeline'), o)
    await shot(l('06-timeline-error'), { ...o, mocks: { timelineError: true }, path: '/timeline' })
    await shot(l('07-settings'), { ...o, path: '/settings' })
    await shot(l('08-study'), { ...o, act: open('.item.kind-imaging_study') })
    await shot(l('09-lab'), { ...o, act: open('.item.kind-lab_result') })
    await shot(l('10-checkup'), { ...o, act: open('.item.kind-checkup') })
    await shot(l('11-viewer'), { ...o, act: viewer() })
    await shot(l('12-viewer-lung'), { ...o, act: viewer(async (p) => { await p.getByRole('button', { name: /^(肺窗|Lung)$/ }).click(); await p.waitForTimeout(1500) }) })
    await shot(l('14-viewer-compare'), { ...o, act: viewer(async (p) => { await p.getByRole('button', { name: /与既往检查对比|Compare with an earlier study/ }).click(); await p.locator('.van-action-sheet__item').first().click(); await p.waitForTimeout(2000) }) })
    await shot(l('13-viewer-grid'), { ...o, act: viewer(async (p) => { await p.locator('.tools button').last().click(); await p.waitForTimeout(1000) }) })
  }
}
await browser.close()
