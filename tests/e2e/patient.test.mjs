// The patient's path through the PWA on a phone, against a live backend with the demo data
// (issue 10, "End-to-end tests"): log in through the WeChat simulator → bind → timeline → the CT in
// the viewer (scroll 50 slices, lung window, pinch zoom) → report and its PDF → a lab trend chart →
// English. Each step saves a screenshot under test-artifacts/e2e/. Run by tests/e2e/run.sh.
// Steps wait for conditions (never fixed sleeps); a step after a failed one is skipped, not run
// against a page in an unknown state.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { BASE, launch, login, phone, shot, touch } from './lib.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

/** Sequential steps sharing one page: once one fails, the rest are skipped with a reason. */
function steps() {
  let failed = null
  return (name, fn) => it(name, async (t) => {
    if (failed) return t.skip(`an earlier step failed: ${failed}`)
    try {
      await fn(t)
    } catch (e) {
      failed = name
      throw e
    }
  })
}

const SLOW = 120_000 // first view of a 300-slice series: the server renders its scrub strip
// …/people/{pid}/previews/{instance}/{frame}/{window}/{width}.{ext} (README: the viewer's contract)
const windowOf = (url) => /\/previews\/[^/]+\/\d+\/([^/]+)\/\d+\.\w+/.exec(url)?.[1] ?? null

describe('an unbound account binds 王芳 (demo-new)', () => {
  const step = steps()
  let s
  before(async () => {
    s = await phone(browser)
  })
  after(async () => {
    await s?.context.close()
  })

  step('logs in through the WeChat simulator, lands on the welcome page, chooses identity binding', async () => {
    await login(s.page, 'demo-new', { onPicker: (p) => shot(p, '01-wechat-simulator-picker') })
    await s.page.waitForURL((u) => u.pathname === '/welcome') // issue 19: not pushed into binding
    await shot(s.page, '01b-welcome')
    await s.page.locator('[data-testid=landing-bind]').click()
    await s.page.waitForURL((u) => u.pathname === '/bind')
    await s.page.locator('input[name=name]').waitFor()
    await shot(s.page, '02-binding')
  })

  step('binds 王芳 with the code from the simulator inbox', async () => {
    const { page } = s
    await page.fill('input[name=name]', '王芳')
    await page.fill('input[name=resident_id]', '320102198503120020')
    await page.locator('form .van-field__button button').click()
    const status = page.getByRole('status').filter({ hasText: '验证码已发送' }) // no phone digits before proof
    await status.waitFor()
    // CONTRACT.md: the simulator's inbox, newest first; an SMS entry carries the code it contains.
    const inbox = await (await page.request.get(`${BASE}/_sim/wechat/inbox`)).json()
    const sms = inbox.find((m) => m.kind === 'sms' && String(m.to).endsWith('8000'))
    assert.ok(sms, `no SMS to the registered phone in the inbox: ${JSON.stringify(inbox).slice(0, 300)}`)
    assert.match(String(sms.code), /^\d{6}$/)
    await page.fill('input[name=otp]', String(sms.code))
    await page.locator('.consent-check').click()
    await page.locator('.consent-check[aria-checked=true]').waitFor()
    await page.locator('button[type=submit]:not([disabled])').waitFor()
    await shot(page, '03-binding-filled')
    await page.locator('button[type=submit]').click()
    await page.waitForURL((u) => u.pathname === '/timeline')
    await page.locator('.item', { hasText: '胸部正位片' }).waitFor() // 王芳's own study
    const me = await (await page.request.get(`${BASE}/api/v1/me`)).json()
    assert.equal(me.people.length, 1, 'bound to exactly one person')
    await shot(page, '04-binding-done-timeline')
  })
})

describe('张伟 reads his records (demo-patient)', () => {
  const step = steps()
  let s
  const previews = [] // preview image requests the viewer made, in order
  const scrubs = [] // scrub-strip requests (issue 19 item 8: one on open, none aborted)
  const failedMe = [] // answers of /api/v1/me that were not 200 (issue 19 item 8: none before login)
  before(async () => {
    s = await phone(browser)
    s.page.on('request', (r) => {
      if (/\/api\/v1\/people\/[^/]+\/previews\//.test(r.url())) previews.push(r.url())
      if (/\/series\/[^/]+\/scrub\?/.test(r.url())) scrubs.push(r.url())
    })
    s.page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/me' && r.status() !== 200) failedMe.push(r.status())
    })
  })
  after(async () => {
    await s?.context.close()
  })

  step('timeline shows the demo studies', async () => {
    const { page } = s
    await login(page, 'demo-patient')
    await page.waitForURL((u) => u.pathname === '/timeline')
    await page.locator('.item').first().waitFor()
    assert.deepEqual(failedMe, [], 'no 401 from /api/v1/me before or after login')
    // Follow-ups from the reports (issue 19 item 5): the 2024 CT's advice is due; the 2019 CT's was done
    // by the 2024 CT, a comparable study that came after it.
    const reminders = page.locator('[data-testid=reminders]')
    await reminders.locator('[data-testid=reminder]', { hasText: '胸部CT增强' }).getByText('12个月后复查').waitFor()
    await reminders.locator('[data-testid=reminder]', { hasText: '胸部CT平扫' }).getByText('已完成：胸部CT增强').waitFor()
    await shot(page, '05-timeline')
    await page.getByRole('button', { name: /^影像/ }).click()
    await page.locator('.item.kind-imaging_study', { hasText: '胸部正位片' }).waitFor()
    const titles = await page.locator('.item .title').allInnerTexts()
    for (const t of ['胸部CT增强', '胸部CT平扫', '胸部正位片']) assert.ok(titles.includes(t), `${t} missing from ${titles}`)
    assert.equal(await page.locator('.item:not(.kind-imaging_study)').count(), 0, 'the imaging chip filters')
    // Year headers count what the filter shows (issue 19 item 2).
    const years = await page.locator('section.year').evaluateAll((els) => els.map((el) => [el.querySelector('.year-n').textContent.trim(), el.querySelectorAll('.item').length]))
    for (const [label, n] of years) assert.equal(label, `${n} 条`, JSON.stringify(years))
    await shot(page, '06-timeline-imaging')
  })

  step('opens the 300-slice CT in the viewer', async () => {
    const { page } = s
    await page.locator('.item', { hasText: '胸部CT增强' }).click()
    await page.waitForURL(/\/studies\//)
    const firstPreview = page.waitForRequest((r) => windowOf(r.url()) !== null, { timeout: SLOW })
    await page.locator('a.series').first().click()
    await page.waitForURL(/\/series\//)
    await firstPreview
    const slider = page.getByRole('slider')
    await slider.waitFor({ timeout: SLOW })
    assert.equal(await slider.getAttribute('aria-valuemax'), '300')
    await page.locator('.preparing').waitFor({ state: 'detached', timeout: SLOW })
    // Something is drawn: the canvas centre is not all black.
    await page.waitForFunction(() => {
      const c = document.querySelector('canvas.main')
      if (!c || !c.width) return false
      const d = c.getContext('2d').getImageData(c.width / 4, c.height / 4, c.width / 2, c.height / 2).data
      for (let i = 0; i < d.length; i += 4) if (d[i] > 40) return true
      return false
    }, null, { timeout: SLOW })
    await shot(page, '07-viewer')
    assert.equal(scrubs.length, 1, `the scrub strip is asked for once on open: ${scrubs.join(' ')}`)
  })

  step('a vertical swipe scrolls 50 slices', async () => {
    const { page } = s
    const slider = page.getByRole('slider')
    const before = Number(await slider.getAttribute('aria-valuenow'))
    // The viewer maps a full-height drag to at most 80 slices (never under 3 px a slice).
    const { height, total } = await page.evaluate(() => ({
      height: document.querySelector('.stage').clientHeight,
      total: Number(document.querySelector('[role=slider]').getAttribute('aria-valuemax')),
    }))
    const perSlice = Math.max(3, height / Math.min(80, Math.max(10, total)))
    const finger = await touch(page)
    await finger.drag([160, 200], [160, 200 + 50 * perSlice + perSlice / 2], 40)
    await finger.detach()
    await page.waitForFunction((n) => document.querySelector('[role=slider]').getAttribute('aria-valuenow') === String(n),
      before + 50)
    await page.getByText(`第 ${before + 50} / 300 幅`).waitFor()
    await shot(page, '08-viewer-scrolled-50')
  })

  step('the lung window chip asks for lung-window images', async () => {
    const { page } = s
    assert.ok(previews.length > 0, 'the viewer asked for sharp previews')
    const before = windowOf(previews[previews.length - 1])
    const lungRequest = page.waitForRequest((r) => windowOf(r.url()) === 'lung')
    await page.getByRole('button', { name: '肺窗', exact: true }).click()
    const request = await lungRequest
    const url = request.url()
    assert.notEqual(before, 'lung')
    assert.notEqual(url, previews.filter((u) => windowOf(u) === before).pop())
    assert.equal(await page.getByRole('button', { name: '肺窗', exact: true }).getAttribute('aria-pressed'), 'true')
    await page.locator('.top .line2', { hasText: '肺窗' }).waitFor()
    const answer = await request.response()
    assert.equal(answer?.status(), 200, `lung-window preview: ${answer?.status()}`)
    assert.match(answer.headers()['content-type'], /^image\//)
    await shot(page, '09-viewer-lung-window')
  })

  step('a pinch zooms the image', async () => {
    const { page } = s
    const transform = () => page.locator('canvas.main').evaluate((c) => c.style.transform)
    const before = await transform()
    assert.match(before, /scale\(1\)/)
    const finger = await touch(page)
    await finger.pinch([195, 420], 80, 260)
    await finger.detach()
    await page.waitForFunction(() => {
      const m = /scale\(([\d.]+)\)/.exec(document.querySelector('canvas.main').style.transform)
      return m && Number(m[1]) > 1.5
    })
    assert.notEqual(await transform(), before)
    await shot(page, '10-viewer-zoomed')
  })

  step('the report is shown and its PDF downloads', async () => {
    const { page } = s
    await page.getByRole('button', { name: '关闭', exact: true }).click()
    await page.waitForURL((u) => /\/studies\/[^/]+$/.test(u.pathname))
    const report = page.locator('section[aria-labelledby=report-h]')
    await report.getByText('磨玻璃', { exact: false }).first().waitFor()
    await shot(page, '11-study-report')
    // A report word on tap: what it means in general, with its source, never a diagnosis (issue 19 item 5).
    await report.locator('[data-testid=term]', { hasText: '磨玻璃' }).first().click()
    const gloss = page.locator('[data-testid=glossary]')
    await gloss.getByText('不是对您检查结果的诊断').waitFor()
    await gloss.getByText('来源：').waitFor()
    await shot(page, '11a-glossary')
    await page.locator('.van-popup__close-icon:visible').click()
    await gloss.waitFor({ state: 'hidden' })
    const link = report.locator('a.pdf')
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
    const file = await readFile(await download.path())
    assert.equal(file.subarray(0, 5).toString('latin1'), '%PDF-', 'the download is a PDF')
    assert.ok(file.length > 2000, `PDF of ${file.length} bytes`)
    // Same request with the page's cookies: the server says what it is.
    const answer = await page.request.get(new URL(await link.getAttribute('href'), BASE).href)
    assert.equal(answer.status(), 200)
    assert.match(answer.headers()['content-type'], /^application\/pdf/)
    assert.equal((await answer.body()).subarray(0, 4).toString('latin1'), '%PDF')
    // In WeChat a PDF cannot be opened: the report's pages as images in the app (issue 19 item 6).
    await report.locator('[data-testid=report-pages]').click()
    await page.waitForURL(/\/report$/)
    await page.waitForFunction(() => { const img = document.querySelector('[data-testid=report-page]'); return img && img.complete && img.naturalWidth > 500 }, null, { timeout: 60_000 })
    await page.getByRole('button', { name: '在浏览器打开' }).waitFor()
    await page.getByRole('button', { name: '发送给朋友' }).waitFor()
    await shot(page, '11c-report-pages')
  })

  step('the brain MR: titled as on the timeline, its card counts the viewer\'s images (issue 19 item 2)', async () => {
    const { page } = s
    await page.goto(`${BASE}/timeline`)
    await page.locator('.item', { hasText: '头颅MR平扫' }).click()
    await page.waitForURL(/\/studies\//)
    assert.equal((await page.locator('h1').innerText()).trim(), '头颅MR平扫')
    assert.equal((await page.locator('a.series .frames').first().innerText()).trim(), '15 幅')
    await shot(page, '11b-study-brain-mr')
  })

  step('a lab result shows a trend chart', async () => {
    const { page } = s
    await page.goto(`${BASE}/timeline`)
    await page.getByRole('button', { name: /^化验/ }).click()
    await page.locator('.item:not(.kind-lab_result)').first().waitFor({ state: 'detached' })
    await page.locator('.item.kind-lab_result .summary').first().waitFor()
    // Cards carry units, in the trends' units (a mg/dL glucose reads in mmol/L).
    const summaries = await page.locator('.item.kind-lab_result .summary').allInnerTexts()
    assert.ok(summaries.some((t) => t.includes('mmol/L')) && !summaries.some((t) => t.includes('mg/dL')), summaries.join(' | '))
    // A result with an out-of-range value: its items open with their trend.
    await page.locator('.item.kind-lab_result .abn').first().click()
    await page.waitForURL(/\/labs\//)
    const chart = page.locator('figure.trend svg').first()
    await chart.waitFor()
    const points = await chart.locator('g > circle, g > path').count()
    assert.ok(points >= 2, `${points} points in the trend chart`)
    assert.match(await chart.getAttribute('aria-label'), /\d/)
    await chart.scrollIntoViewIfNeeded()
    await shot(page, '12-lab-trend')
  })

  step('switching to English changes the labels', async () => {
    const { page } = s
    await page.goto(`${BASE}/settings`)
    await page.getByText('大字模式').waitFor()
    await shot(page, '13-settings-zh')
    await page.locator('.van-cell[lang=en]').click()
    await page.getByText('Large text', { exact: true }).waitFor()
    assert.equal(await page.getByText('大字模式').count(), 0)
    await page.waitForFunction(() => document.title.startsWith('Settings'))
    await shot(page, '14-settings-en')
    await page.goto(`${BASE}/timeline`) // the choice is kept across navigations
    await page.getByRole('button', { name: /^Imaging/ }).waitFor()
    await page.locator('.item').first().waitFor()
    await shot(page, '15-timeline-en')
    // The platform's own lines in English too (issue 19 item 7): lab counts are not Chinese sentences.
    await page.getByRole('button', { name: /^Lab/ }).click()
    await page.locator('.item:not(.kind-lab_result)').first().waitFor({ state: 'detached' })
    await page.locator('.item.kind-lab_result .summary').first().waitFor()
    const labLines = await page.locator('.item.kind-lab_result .summary').allInnerTexts()
    assert.ok(labLines.length && labLines.every((t) => !t.includes('项异常') && !t.includes('参考范围内')), labLines.join(' | '))
    assert.deepEqual(s.errors, [], 'no uncaught errors in the page')
  })
})
