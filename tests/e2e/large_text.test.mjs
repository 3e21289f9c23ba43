// Large text for elders that really is large, nothing cut off (issue 19 item 7), and the screens of the
// patients' round in English: 张伟 (demo-patient) on a 390 px phone with large text, in Chinese and in
// English, through every screen of his records. On each screen the root font is ≥ 1.5× the normal one,
// nothing sticks out of the viewport (except inside horizontal scrollers, which are meant to scroll),
// and no text is clipped by an overflow: hidden box or cut with an ellipsis. Screenshots: large-*.png.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, cjkFont, launch, login, phone, shot } from './lib.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

/** What sticks out or is cut on the current screen: [] when all fits. */
function measure() {
  const W = document.documentElement.clientWidth
  const scrollsX = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX
      if (o === 'auto' || o === 'scroll') return true
    }
    return false
  }
  const bad = []
  for (const el of document.querySelectorAll('body *')) {
    if (!(el instanceof HTMLElement) || el.closest('svg, canvas, [aria-hidden=true], .sr-only')) continue
    const r = el.getBoundingClientRect()
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue
    const text = (el.innerText || '').trim().slice(0, 40)
    if ((r.right > W + 1 || r.left < -1) && !scrollsX(el)) bad.push(`sticks out (${Math.round(r.left)}..${Math.round(r.right)} of ${W}): ${el.className} "${text}"`)
    const cs = getComputedStyle(el)
    const clips = cs.overflowX === 'hidden' || cs.overflow === 'hidden' || cs.textOverflow === 'ellipsis'
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())
    if (clips && own && el.scrollWidth > el.clientWidth + 1) bad.push(`clipped (${el.scrollWidth} > ${el.clientWidth}): ${el.className} "${text}"`)
    if (clips && own && cs.webkitLineClamp !== 'none' && el.scrollHeight > el.clientHeight + 2) bad.push(`cut after ${cs.webkitLineClamp} lines: ${el.className} "${text}"`)
  }
  return bad
}

for (const locale of ['zh-CN', 'en']) {
  describe(`large text, ${locale}: every screen fits 390 px`, () => {
    let s
    const screens = []
    before(async () => {
      s = await phone(browser, { locale })
      await cjkFont(s.context)
      await s.context.addInitScript((l) => localStorage.setItem('yy.prefs', JSON.stringify({ locale: l, largeText: true })), locale)
      await login(s.page, 'demo-patient')
      const me = await (await s.page.request.get(`${BASE}/api/v1/me`)).json()
      const pid = me.person.id
      const items = (await (await s.page.request.get(`${BASE}/api/v1/people/${pid}/timeline?limit=100`)).json()).items
      const first = (kind, pick = () => true) => items.find((i) => i.kind === kind && pick(i))
      const path = (i) => new URL(i.detail_url, BASE).pathname.replace('/api/v1', '')
      const ct = first('imaging_study', (i) => i.title === '胸部CT增强')
      screens.push(['timeline', '/timeline'], ['study', path(ct)], ['report', `${path(ct)}/report`], ['lab', path(first('lab_result', (i) => i.data.abnormal_count > 0))],
        ['checkup', path(first('checkup', (i) => i.data.abnormal_count > 1))],
        ['checkup-pages', `${path(first('checkup', (i) => i.data.abnormal_count > 1))}/report`], ['family', '/family'], ['family-invite', '/family/invite'], ['family-request', '/family/request'], ['shares', '/shares'],
        ['share-new', '/share/new'], ['access', '/access'], ['settings', '/settings'], ['welcome', '/welcome'])
    })
    after(async () => {
      await s?.context.close()
    })

    it('has a root font at least 1.5 times the normal one', async () => {
      await s.page.goto(`${BASE}/timeline`)
      const [large, normal] = await s.page.evaluate(() => {
        const size = () => parseFloat(getComputedStyle(document.documentElement).fontSize)
        const l = size()
        document.documentElement.classList.remove('large-text')
        const n = size()
        document.documentElement.classList.add('large-text')
        return [l, n]
      })
      assert.ok(large >= 1.5 * normal - 0.01, `large text ${large}px vs normal ${normal}px`)
    })

    it('says the platform\'s own words in the reader\'s language (reminders, counts)', async () => {
      await s.page.goto(`${BASE}/timeline`)
      await s.page.locator('[data-testid=reminder]').first().waitFor()
      const text = await s.page.locator('[data-testid=reminders]').innerText()
      assert.ok(locale === 'en' ? text.includes('Follow-up reminders') && !text.includes('复查提醒') : text.includes('复查提醒'), text)
    })

    it('shows every screen without anything sticking out or cut off', async () => {
      const problems = []
      for (const [name, url] of screens) {
        await s.page.goto(`${BASE}${url}`)
        await s.page.locator('.page-main').first().waitFor()
        await s.page.waitForLoadState('networkidle')
        await s.page.waitForTimeout(150) // fonts and lazy parts settle
        if (name === 'checkup') await s.page.locator('[data-testid=vitals] svg').nth(2).waitFor() // BP, weight, BMI (item 5)
        for (const p of await s.page.evaluate(measure)) problems.push(`${name}: ${p}`)
        await shot(s.page, `large-${locale}-${name}`)
      }
      assert.deepEqual(problems, [])
      assert.deepEqual(s.errors, [])
    })
  })
}
