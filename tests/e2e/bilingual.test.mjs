// Issue 19, "Done when", in BOTH languages at phone size (390 px): for zh-CN and en, a patient of its own
// (tests/e2e/world.py: a chest X-ray whose report advises "3个月后复查", a checkup) walks through the
// screens the second round added — the relative's landing page, the follow-up reminder made from the
// report and done once the follow-up X-ray arrives, the glossary on tap, the report's and the checkup
// PDF's pages in the app ("在浏览器打开" / "发送给朋友"), the share's link shown again and its code reset,
// the screens that say access ended, for a relative and for a doctor, and counts that match the list.
// No raw server text anywhere.
// Screenshots: test-artifacts/e2e/bi-<locale>-*.png. Run by tests/e2e/run.sh.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { BASE, launch, phone, shot } from './lib.mjs'

const ROOT = new URL('../../', import.meta.url).pathname
const TEXT = {
  'zh-CN': {
    landing: '查看家人的记录，有三种方式', due: '已于', advice: '报告建议：3个月后复查', done: '已完成：胸部正位片',
    notDx: '不是对您检查结果的诊断', open: '在浏览器打开', send: '发送给朋友', ended: '已停止与您共享',
    gone: '分享已结束', goneAsk: '重新分享', accept: '邀请您查看 TA 的记录',
  },
  en: {
    landing: 'Three ways to see a relative', due: 'due since', advice: 'the report advises: 3个月后复查', done: 'done: 胸部正位片',
    notDx: 'not a diagnosis of your results', open: 'Open in browser', send: 'Send to a friend', ended: 'stopped sharing with you',
    gone: 'This share has ended', goneAsk: 'share again', accept: null,
  },
}

function world(...args) {
  const out = spawnSync(`${ROOT}.venv/bin/python`, ['-m', 'tests.e2e.world', ...args], { cwd: ROOT, encoding: 'utf-8' })
  assert.equal(out.status, 0, out.stderr)
  return JSON.parse(out.stdout.trim().split('\n').pop())
}

/** Signs in as any openid through the simulator's "other openid" field (not only its listed users). */
async function loginAs(page, openid, next = '/timeline') {
  await page.goto(`${BASE}/login?next=${encodeURIComponent(next)}`)
  await page.locator('button.wechat').click()
  const field = page.locator('input[name=sim_user]')
  await field.waitFor()
  await field.fill(openid)
  await field.press('Enter')
  await page.waitForURL((u) => !u.pathname.startsWith('/_sim/') && !u.pathname.startsWith('/auth/') && u.pathname !== '/login')
}

/** A JSON API call with the page's session cookie and CSRF token (as the app makes it). */
function call(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const csrf = decodeURIComponent(document.cookie.split('; ').find((c) => c.startsWith('yy_csrf='))?.split('=')[1] ?? '')
    const res = await fetch(p, { method: m, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: b ? JSON.stringify(b) : undefined })
    return { status: res.status, body: res.status === 204 ? null : await res.json() }
  }, [method, path, body])
}

async function confirmDialog(page) {
  const ok = page.locator('.van-dialog__confirm:visible')
  await ok.waitFor()
  await ok.click()
  await page.locator('.van-dialog:visible').first().waitFor({ state: 'hidden' })
}

/** Every page image of the in-app PDF view is a real, decoded picture. */
async function pagesShown(page, name) {
  const img = page.locator('[data-testid=report-page]').first()
  await img.waitFor()
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=report-page]')].slice(0, 1)
    .every((i) => i.complete && i.naturalWidth > 500))
  await shot(page, name)
  // Too small to read at 390 px: a tap opens the page full screen (pinch to zoom), closed again.
  await img.click()
  const zoom = page.locator('.van-image-preview:visible')
  await zoom.locator('img').first().waitFor()
  await shot(page, `${name}-zoomed`)
  await zoom.locator('.van-image-preview__close-icon').click()
  await zoom.waitFor({ state: 'hidden' })
}

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

for (const locale of ['zh-CN', 'en']) {
  const T = TEXT[locale]
  const tag = locale === 'en' ? 'en' : 'zh'
  describe(`issue 19 screens in ${locale} at 390 px`, () => {
    let w, patient, relative, doctor
    let failed = null
    const step = (name, fn) => it(name, async (t) => {
      if (failed) return t.skip(`an earlier step failed: ${failed}`)
      try {
        await fn()
      } catch (e) {
        failed = name
        for (const [who, session] of Object.entries({ patient, relative, doctor })) {
          await shot(session.page, `bi-${locale}-FAILED-${who}`).catch(() => {})
        }
        throw e
      }
    })
    const prefs = (s) => s.context.addInitScript((l) => localStorage.setItem('yy.prefs', JSON.stringify({ locale: l })), locale)

    before(async () => {
      w = world('setup', tag)
      patient = await phone(browser, { locale })
      relative = await phone(browser, { locale })
      doctor = await phone(browser, { locale })
      for (const s of [patient, relative, doctor]) await prefs(s)
    })
    after(async () => {
      for (const s of [patient, relative, doctor]) {
        assert.deepEqual(s?.errors ?? [], [], 'no uncaught errors in the page')
        await s?.context.close()
      }
    })

    step('a relative with nobody to see lands on the three ways in', async () => {
      await loginAs(relative.page, w.relative)
      await relative.page.waitForURL((u) => u.pathname === '/welcome')
      await relative.page.getByText(T.landing).waitFor()
      await relative.page.locator('[data-testid=way-request]').waitFor()
      await shot(relative.page, `bi-${locale}-01-landing`)
    })

    step('the report\'s follow-up advice is a reminder that fell due', async () => {
      const { page } = patient
      await loginAs(page, w.patient)
      const reminder = page.locator('[data-testid=reminder]').first()
      await reminder.getByText(T.advice).waitFor()
      await reminder.getByText(T.due).waitFor()
      await shot(page, `bi-${locale}-02-reminder-due`)
    })

    step('a report word explains itself on tap; the report pages show in the app', async () => {
      const { page } = patient
      await page.goto(`${BASE}/people/${w.person_id}/studies/${w.study_id}`)
      await page.locator('[data-testid=term]').first().click()
      const gloss = page.locator('[data-testid=glossary]')
      await gloss.getByText(T.notDx, { exact: false }).waitFor()
      await shot(page, `bi-${locale}-03-glossary`)
      await page.locator('.van-popup__close-icon:visible').click()
      await gloss.waitFor({ state: 'hidden' })
      await page.locator('[data-testid=report-pages]').click()
      await page.waitForURL(/\/report$/)
      assert.equal((await page.locator('[data-testid=open-browser]').innerText()).trim(), T.open)
      assert.equal((await page.locator('[data-testid=send-friend]').innerText()).trim(), T.send)
      await pagesShown(page, `bi-${locale}-04-report-pages`)
    })

    step('the checkup: glossary words in its conclusions, its PDF, and its pages in the app', async () => {
      const { page } = patient
      const timeline = await call(page, 'GET', `/api/v1/people/${w.person_id}/timeline?kind=checkup`)
      const id = timeline.body.items[0].ref_id ?? timeline.body.items[0].id
      await page.goto(`${BASE}/people/${w.person_id}/checkups/${id}`)
      await page.locator('[data-testid=term]').first().waitFor()
      const pdf = await page.request.get(new URL(await page.locator('[data-testid=checkup-pdf]').getAttribute('href'), BASE).href)
      assert.equal(pdf.status(), 200)
      assert.match(pdf.headers()['content-type'], /^application\/pdf/)
      await shot(page, `bi-${locale}-05-checkup`)
      await page.locator('[data-testid=checkup-pages]').click()
      await page.waitForURL(/\/checkups\/[^/]+\/report$/)
      assert.equal((await page.locator('[data-testid=open-browser]').innerText()).trim(), T.open)
      await pagesShown(page, `bi-${locale}-06-checkup-pages`)
    })

    step('the relative accepts an invitation; when it is revoked, the next tap says so', async () => {
      const invite = await call(patient.page, 'POST', `/api/v1/people/${w.person_id}/invitations`, { relationship: 'child' })
      assert.equal(invite.status, 201)
      const { page } = relative
      await page.goto(new URL(invite.body.url).pathname.replace(/^/, BASE))
      if (T.accept) await page.getByText(T.accept).waitFor()
      await page.locator('[data-testid=accept]').click()
      await page.waitForURL((u) => u.pathname === '/timeline')
      await page.locator('.item', { hasText: '胸部正位片' }).first().waitFor()
      const grants = await call(patient.page, 'GET', `/api/v1/people/${w.person_id}/grants`)
      const live = grants.body.filter((g) => g.status === 'active')
      assert.equal(live.length, 1)
      assert.equal((await call(patient.page, 'DELETE', `/api/v1/grants/${live[0].id}`)).status, 204)
      await page.locator('.item', { hasText: '胸部正位片' }).first().click()
      await page.waitForURL((u) => u.pathname === `/ended/${w.person_id}`)
      await page.locator('[data-testid=ended-notice]').getByText(T.ended, { exact: false }).waitFor()
      assert.equal(await page.getByText('No such').count(), 0)
      await shot(page, `bi-${locale}-07-relative-ended`)
    })

    step('a share: its link shown again, its code reset; withdrawn, the doctor is told', async () => {
      const made = await call(patient.page, 'POST', `/api/v1/people/${w.person_id}/shares`,
        { study_ids: [w.study_id], expires_in: '24h', with_access_code: true, recipient: 'Dr Wang 王医生' })
      assert.equal(made.status, 201)
      const { page } = patient
      await page.goto(`${BASE}/shares`)
      const card = page.locator('[data-testid=share-card]').first()
      await card.locator('[data-testid=show-link]').click()
      const again = page.locator('[data-testid=link-again]')
      await again.locator('img.qr').waitFor()
      assert.equal((await again.locator('[data-testid=handoff-url]').innerText()).trim(), made.body.url)
      await shot(page, `bi-${locale}-08-link-again`)
      await page.locator('.van-popup__close-icon:visible').click()
      await card.locator('[data-testid=reset-code]').click()
      await page.locator('.van-dialog__confirm:visible').click() // the question; the new code's dialog follows
      await page.locator('[data-testid=new-code]').waitFor()
      const code = (await page.locator('[data-testid=new-code]').innerText()).trim()
      assert.match(code, /^\d{6}$/)
      await shot(page, `bi-${locale}-09-new-code`)
      await confirmDialog(page)

      const d = doctor.page
      await d.goto(made.body.url)
      await d.locator('input[name=access_code]').fill(code)
      await d.locator('button[type=submit]').click()
      await d.waitForURL((u) => u.pathname === '/doctor')
      await d.getByText('胸部正位片').first().waitFor()
      await card.locator('[data-testid=revoke-share]').click()
      await confirmDialog(page)
      await d.reload()
      const gone = d.locator('[data-testid=doctor-gone]')
      await gone.getByText(T.gone).waitFor()
      await gone.getByText(T.goneAsk, { exact: false }).waitFor()
      assert.equal(await d.getByText('No such').count(), 0)
      await shot(d, `bi-${locale}-10-doctor-gone`)
    })

    step('the follow-up X-ray arrives: the reminder is done', async () => {
      world('followup', tag, w.hospital_key)
      const { page } = patient
      await page.goto(`${BASE}/timeline`)
      await page.locator('[data-testid=reminder]').first().getByText(T.done).waitFor()
      await shot(page, `bi-${locale}-11-reminder-done`)
    })

    step('the counts match what is listed: all, each kind, each year', async () => {
      const { page } = patient
      const number = (text) => Number((text.match(/\d+/) ?? ['-1'])[0])
      await page.locator('.item').nth(3).waitFor() // two X-rays, the checkup and its lab panel
      const chips = page.locator('.chips .chip')
      assert.equal(number(await chips.first().innerText()), await page.locator('.item').count(), 'all')
      for (const section of await page.locator('section.year').all()) {
        assert.equal(number(await section.locator('.year-n').innerText()), await section.locator('.item').count())
      }
      await chips.nth(1).click() // imaging
      await page.locator('.item:not(.kind-imaging_study)').first().waitFor({ state: 'detached' })
      await page.locator('.item.kind-imaging_study').nth(1).waitFor() // the filtered page has loaded
      assert.equal(number(await chips.nth(1).innerText()), await page.locator('.item').count(), 'imaging')
      assert.equal(await page.locator('.item').count(), 2)
    })
  })
}
