// The doctor's reading workstation (issue 20) against a live backend with the demo data, Chromium at
// 1440×900: a share of every imaging study of 张伟 (the demo's 300-slice CT and its 2019 prior, the
// CR, the MR studies) plus two real sagittal fixtures a hospital uploads here through the public
// contract (institution key, registration, STOW-RS). Checked: a length on the CT with known Pixel
// Spacing to 1 %; ROIs on the phantom's air, lung and fat to 5 HU of their defined values
// (tools/synthetic.py); compare scrolls two studies in step by slice position; orientation
// markers on axial and sagittal images; the projection-radiograph caveat; the help overlay; and the
// phone layout at 390 px with touch hints only. Screenshots: test-artifacts/e2e/doctor-*.png.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BASE, cjkFont, launch, login, phone, shot } from './lib.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const YUNYING = `${ROOT}.venv/bin/yunying`
const SAGITTAL_CT = `${ROOT}tests/data/dicom/pydicom/dicomdirtests/98892001/CT2N/6293` // IOP 0,-1,0 / 0,0,-1
const SAGITTAL_MR = `${ROOT}tests/data/dicom/pydicom-data/MR2_J2KI.dcm` // oblique sagittal, IOP .569,.822,0 / 0,0,-1
const ZHANG_WEI = { resident_id: '320106196203150013', name: '张伟', sex: 'M', birth_date: '1962-03-15' }
const CT = '胸部CT增强' // 300 slices, 0.7 mm pixels, 1 mm slices (synthetic.py)
const PRIOR = '胸部CT平扫' // its 2019 prior: 100 slices, 3 mm apart
const PX_MM = 358.4 / 512 // the phantom's Pixel Spacing
const SLOW = 120_000

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

function steps() {
  let failed = null
  return (name, fn) => it(name, { timeout: SLOW }, async (t) => {
    if (failed) return t.skip(`an earlier step failed: ${failed}`)
    try {
      await fn(t)
    } catch (e) {
      failed = name
      throw e
    }
  })
}

/** A hospital sends the sagittal fixtures for 张伟 (CONTRACT.md: institution create, PUT registration, upload). */
async function hospitalSendsSagittals() {
  const made = JSON.parse(execFileSync(YUNYING, ['institution', 'create', 'e2e 阅片中心', '--json'], { cwd: ROOT, encoding: 'utf8' }))
  for (const local of ['98890234', '5MR2']) {
    const r = await fetch(`${BASE}/api/v1/institution/patients/${local}`, {
      method: 'PUT', headers: { Authorization: `Bearer ${made.api_key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(ZHANG_WEI),
    })
    assert.ok(r.status === 200 || r.status === 201, `registration ${local}: ${r.status} ${await r.text()}`)
  }
  execFileSync(YUNYING, ['upload', '--url', BASE, '--key', made.api_key, SAGITTAL_CT, SAGITTAL_MR], { cwd: ROOT, stdio: 'pipe' })
}

/** The patient shares every imaging study (no access code, no downloads) and hands over the link. */
async function patientShares(page) {
  await login(page, 'demo-patient')
  return page.evaluate(async () => {
    const csrf = decodeURIComponent(document.cookie.split('; ').find((c) => c.startsWith('yy_csrf='))?.split('=')[1] ?? '')
    const me = await (await fetch('/api/v1/me')).json()
    const pid = me.person.id
    const tl = await (await fetch(`/api/v1/people/${pid}/timeline?kind=imaging_study&limit=50`)).json()
    const r = await fetch(`/api/v1/people/${pid}/shares`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ study_ids: tl.items.map((i) => i.ref_id), expires_in: '24h', with_access_code: false, allow_download: false }),
    })
    return (await r.json()).url
  })
}

async function desk(locale = 'zh-CN') {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale })
  context.setDefaultTimeout(30_000)
  await cjkFont(context)
  await context.addInitScript((l) => localStorage.setItem('yy.prefs', JSON.stringify({ locale: l })), locale)
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  return { context, page, errors }
}

const viewport = (page, n = 0) => page.locator('[data-testid=viewport]').nth(n)

async function ready(page, n = 0) {
  await page.waitForFunction((i) => {
    const v = document.querySelectorAll('[data-testid=viewport]')[i]
    return v?.dataset.ready === 'yes' && v.dataset.matrix
  }, n, { timeout: SLOW })
}

/** Page coordinates of image pixel (x, y) in viewport n (its image → screen matrix). */
async function at(page, x, y, n = 0) {
  const box = await viewport(page, n).boundingBox()
  const m = (await viewport(page, n).getAttribute('data-matrix')).split(',').map(Number)
  return [box.x + m[0] * x + m[2] * y + m[4], box.y + m[1] * x + m[3] * y + m[5]]
}

async function drag(page, from, to) {
  await page.mouse.move(...from)
  await page.mouse.down()
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2, { steps: 4 })
  await page.mouse.move(...to, { steps: 4 })
  await page.mouse.up()
}

/** Opens a series in the active viewport: by its label (thumbnail title), or the first of a study. */
async function openSeries(page, { series, study }) {
  const button = series
    ? page.locator(`[data-testid=desk-series][title="${series}"]`).first() // the demo's shoulder MR is also uploaded here
    : page.locator('[data-testid=desk-study]', { hasText: study }).locator('[data-testid=desk-series]').first()
  const uid = await button.getAttribute('data-series')
  await button.click()
  await page.waitForFunction((u) => {
    const v = document.querySelector('[data-testid=viewport]')
    return v?.dataset.series === u && v.dataset.ready === 'yes' && v.dataset.matrix
  }, uid, { timeout: SLOW })
}

async function markers(page, n = 0) {
  const v = viewport(page, n)
  const out = {}
  for (const side of ['top', 'bottom', 'left', 'right']) out[side] = (await v.locator(`[data-testid=orient-${side}]`).innerText()).trim()
  return out
}

describe('the doctor reads on a desk PC and on a phone', () => {
  const step = steps()
  let shareUrl
  let doctor

  before(async () => {
    await hospitalSendsSagittals()
    const patient = await phone(browser)
    shareUrl = await patientShares(patient.page)
    assert.match(shareUrl, /\/s\/yys_/)
    await patient.context.close()
    doctor = await desk()
  })
  after(async () => {
    await doctor?.context.close()
  })

  step('the share opens the workstation: the CT fills the space between the toolbars', async () => {
    const { page } = doctor
    await page.goto(shareUrl)
    await page.locator('button[type=submit]').click() // GET never opens a share: the doctor's button does
    await page.locator('[data-testid=doctor-desk]').waitFor()
    await ready(page)
    assert.equal(await viewport(page).getAttribute('data-total'), '300')
    assert.equal(await page.locator('[data-testid=ov-patient]').innerText(), '张*') // masked on the image
    const vp = await viewport(page).boundingBox()
    const tools = await page.locator('nav.tools').boundingBox()
    const status = await page.locator('footer.status').boundingBox()
    assert.ok(vp.y >= tools.y + tools.height - 1 && vp.y + vp.height <= status.y + 1, 'nothing covers the image')
    assert.ok(vp.height >= 700, `image height ${vp.height}`)
    assert.deepEqual(await markers(page), { top: 'A', bottom: 'P', left: 'R', right: 'L' }) // axial, IOP 1,0,0/0,1,0
    assert.equal(await page.locator('[data-testid=scale-bar]').count(), 1)
    await shot(page, 'doctor-01-desk-zh')
  })

  step('a length on the CT is right within 1 % (Pixel Spacing 0.7 mm)', async () => {
    const { page } = doctor
    await page.keyboard.press('l')
    await drag(page, await at(page, 106, 256), await at(page, 406, 256))
    const label = page.locator('[data-testid=measure-length]').last()
    const mm = Number(await label.getAttribute('data-value'))
    const expected = 300 * PX_MM // 210 mm between the two pixel centres
    assert.ok(Math.abs(mm - expected) / expected < 0.01, `length ${mm} mm, expected ${expected}`)
    assert.equal(await label.getAttribute('data-unit'), 'mm')
  })

  step('ROIs on air, lung and fat read the phantom\'s HU within 5', async () => {
    const { page } = doctor
    await page.keyboard.press('e')
    // centres and radii in image pixels, inside each region of slice 151 (synthetic.ct_slice_hu)
    const rois = [['air', 41, 41, 11, -1000], ['lung', 155.5, 252.5, 7, -850], ['fat', 37, 255.5, 4, -100]]
    for (const [name, x, y, r, hu] of rois) {
      await drag(page, await at(page, x - r, y - r), await at(page, x + r, y + r))
      const label = page.locator('[data-testid=measure-ellipse]').last()
      const mean = Number(await label.getAttribute('data-mean'))
      assert.ok(Math.abs(mean - hu) <= 5, `${name}: mean ${mean} HU, phantom ${hu}`)
      assert.ok(Number(await label.getAttribute('data-area')) > 0, `${name}: an area in mm²`)
    }
    await page.keyboard.press('v') // the probe: the value under the pointer, in HU
    await page.mouse.move(...(await at(page, 155, 252)))
    const probe = await page.locator('[data-testid=ov-probe]').innerText()
    const value = Number(/(-?[\d,.]+)\s*HU/.exec(probe)?.[1].replace(/,/g, ''))
    assert.ok(Math.abs(value + 850) < 45, `probe in the lung: ${probe}`)
    await shot(page, 'doctor-02-measurements-zh')
  })

  step('compare: the 2019 prior side by side, scrolled in step by slice position', async () => {
    const { page } = doctor
    await page.locator('[data-testid=compare]').click()
    await page.locator('[data-testid=compare-choice]', { hasText: PRIOR }).click()
    await ready(page, 1)
    // both stacks ordered by position (their series' metadata is in)
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=viewport]')].every((v) => v.dataset.sorted === 'yes' && v.dataset.position !== ''))
    const state = async () => page.evaluate(() => [...document.querySelectorAll('[data-testid=viewport]')]
      .map((v) => ({ index: Number(v.dataset.index), position: Number(v.dataset.position) })))
    const [left0, right0] = await state()
    assert.ok(Math.abs(left0.position - right0.position) <= 1.6, `in step from the start: ${JSON.stringify([left0, right0])}`)
    await page.mouse.move(...(await at(page, 256, 256, 0)))
    for (let i = 0; i < 30; i++) await page.mouse.wheel(0, 100)
    await page.waitForFunction((i0) => Number(document.querySelector('[data-testid=viewport]').dataset.index) === i0 + 30, left0.index)
    const [left1, right1] = await state()
    assert.ok(Math.abs(left1.position - right1.position) <= 1.6, `after 30 slices: ${JSON.stringify([left1, right1])}`) // prior: 3 mm apart
    assert.equal(right1.index - right0.index, 10, 'the prior moved by position (30 mm = 10 of its slices), not by index')
    for (let i = 0; i < 12; i++) await page.keyboard.press('ArrowUp')
    const [left2, right2] = await state()
    assert.equal(left2.index, left1.index - 12)
    assert.ok(Math.abs(left2.position - right2.position) <= 1.6, `keyboard: ${JSON.stringify([left2, right2])}`)
    await ready(page, 0)
    await ready(page, 1)
    await shot(page, 'doctor-03-compare-zh')
    await page.locator('[data-testid=compare]').click() // end compare
    await page.locator('[data-testid=viewport]').nth(1).waitFor({ state: 'detached' })
  })

  step('orientation markers on real axial and sagittal fixtures', async () => {
    const { page } = doctor
    await openSeries(page, { study: CT }) // the demo's axial CT (IOP 1,0,0 / 0,1,0)
    assert.deepEqual(await markers(page), { top: 'A', bottom: 'P', left: 'R', right: 'L' })
    await openSeries(page, { series: 'Scout' }) // CT2N/6293, sagittal (IOP 0,-1,0 / 0,0,-1)
    assert.deepEqual(await markers(page), { top: 'H', bottom: 'F', left: 'P', right: 'A' })
    await openSeries(page, { series: 'MR #1' }) // MR2_J2KI.dcm (SHOULDER), oblique sagittal: rows towards posterior-left
    assert.deepEqual(await markers(page), { top: 'H', bottom: 'F', left: 'AR', right: 'PL' })
    await shot(page, 'doctor-04-sagittal-zh')
  })

  step('a radiograph measured with Imager Pixel Spacing says so (PS3.3 10.7.1.1)', async () => {
    const { page } = doctor
    await openSeries(page, { series: '胸部 PA' })
    await page.keyboard.press('l')
    await drag(page, await at(page, 500, 1000), await at(page, 1500, 1000))
    assert.match(await page.locator('[data-testid=measure-length]').last().textContent(), /\*/)
    assert.match(await page.locator('[data-testid=caveat]').innerText(), /10\.7\.1\.1/)
    await shot(page, 'doctor-05-radiograph-zh')
  })

  step('keyboard help, and English', async () => {
    const { page } = doctor
    await page.keyboard.press('?')
    await page.locator('[data-testid=help-overlay]').waitFor()
    await shot(page, 'doctor-06-help-zh')
    await page.keyboard.press('Escape')
    await page.locator('[data-testid=help-overlay]').waitFor({ state: 'detached' })
    await page.locator('[data-testid=desk-lang]').selectOption('en')
    await openSeries(page, { study: CT })
    await page.locator('[data-testid=ov-window]', { hasText: 'W 400 L 40' }).waitFor()
    await shot(page, 'doctor-07-desk-en')
    assert.deepEqual(doctor.errors, [])
  })

  for (const locale of ['zh-CN', 'en']) {
    step(`on a phone (390 px, ${locale}) the same share opens the phone layout with touch hints only`, async () => {
      const { context, page, errors } = await phone(browser, { locale })
      await cjkFont(context)
      await context.addInitScript((l) => localStorage.setItem('yy.prefs', JSON.stringify({ locale: l })), locale)
      await page.goto(shareUrl)
      await page.locator('button[type=submit]').click()
      await page.locator('[data-testid=doctor-patient]').waitFor()
      assert.equal(await page.locator('[data-testid=doctor-desk]').count(), 0)
      assert.ok(await page.locator('[data-testid=touch-hint]').isVisible(), 'touch hints')
      assert.equal(await page.locator('.keys').isVisible(), false, 'no keyboard or mouse hints')
      const text = await page.locator('body').innerText()
      assert.doesNotMatch(text, /滚轮|鼠标|PgUp|wheel|mouse/i)
      await shot(page, `doctor-08-phone-${locale}`)
      assert.deepEqual(errors, [])
      await context.close()
    })
  }
})
