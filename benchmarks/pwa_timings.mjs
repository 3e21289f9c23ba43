// Browser timings for benchmarks/bench_pwa.py (issue 10, "Speed"): Debian's Chromium through
// playwright-core (pwa/node_modules), phone viewport, logged in as demo-patient through the WeChat
// simulator, the network shaped like 4G by Chromium's own emulation (CDP
// Network.emulateNetworkConditions: 150 ms round trip, 9 Mbit/s each way), no CPU throttling.
// One JSON object per line on stdout:
//   {"kind": "js", "page": ..., "gzip_bytes": ..., "raw_bytes": ..., "files": ..., "encoded": ...}
//   {"kind": "run", "n": ..., "timeline_ms": ..., "study_ms": ..., "first_slice_ms": ..., "scrubbable_ms": ..., "sheets": ...}
// Env: BASE_URL, RUNS (default 4: the first one meets a cold server cache), CHROMIUM.
import { createRequire } from 'node:module'
import { gzipSync } from 'node:zlib'

const require = createRequire(new URL('../pwa/package.json', import.meta.url))
const { chromium } = require('playwright-core')

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:8000'
const RUNS = Number(process.env.RUNS ?? 4)
const FOUR_G = { offline: false, latency: 150, downloadThroughput: (9e6 / 8), uploadThroughput: (9e6 / 8) }
const STUDY = '胸部CT增强' // the 300-slice synthetic CT of the demo data
const out = (o) => console.log(JSON.stringify(o))

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
})

// Instrumentation, installed before the app's code runs: when a tap happened, when the viewer's
// canvas first received an image, and when each scrub sheet finished decoding (ScrubStrip awaits
// img.decode(), after which a slice of that sheet can be drawn without waiting).
function instrument() {
  const yy = { taps: [], firstDraw: null, decoded: {} }
  window.__yy = yy
  document.addEventListener('pointerdown', () => yy.taps.push(performance.now()), true)
  const draw = CanvasRenderingContext2D.prototype.drawImage
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    if (yy.firstDraw === null && this.canvas.classList.contains('main')) yy.firstDraw = performance.now()
    return draw.apply(this, args)
  }
  const decode = HTMLImageElement.prototype.decode
  HTMLImageElement.prototype.decode = function () {
    const src = this.src
    return decode.call(this).then((v) => {
      if (src.includes('/scrub/')) yy.decoded[src] = performance.now()
      return v
    })
  }
}

async function newPhone() {
  // No service worker: every run is a first visit over the (emulated) network, not the precache.
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true, locale: 'zh-CN',
    serviceWorkers: 'block',
  })
  await context.addInitScript(instrument)
  // Sign in with the context's own request client (shares the cookie jar): start → the simulator's
  // authorize URL with sim_user= (CONTRACT.md) → callback, which sets the session cookies.
  let r = await context.request.get(`${BASE}/auth/wechat/start?next=/timeline`, { maxRedirects: 0 })
  r = await context.request.get(`${r.headers().location}&sim_user=demo-patient`, { maxRedirects: 0 })
  r = await context.request.get(new URL(r.headers().location, BASE).href, { maxRedirects: 0 })
  if (r.status() !== 302) throw new Error(`simulator login: ${r.status()}`)
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  return { context, page, cdp }
}

/** JavaScript the browser loads when it opens `path` first (gzip -9 of each file, as the budget counts). */
async function firstLoadJs(path, ready) {
  const { context, page } = await newPhone()
  const scripts = []
  page.on('response', (r) => {
    if (r.request().resourceType() === 'script' && new URL(r.url()).origin === BASE) scripts.push(r)
  })
  await page.goto(BASE + path)
  await page.locator(ready).first().waitFor({ timeout: 120_000 })
  await page.waitForLoadState('networkidle')
  let gz = 0
  let raw = 0
  const encodings = new Set()
  for (const r of scripts) {
    const body = await r.body()
    raw += body.length
    gz += gzipSync(body, { level: 9 }).length
    encodings.add(r.headers()['content-encoding'] ?? 'identity')
  }
  out({ kind: 'js', page: path.replace(/[0-9a-f]{32}/g, ':id'), gzip_bytes: gz, raw_bytes: raw, files: scripts.length, encoded: [...encodings].join(',') })
  await context.close()
}

async function run(n) {
  const { context, page, cdp } = await newPhone()
  await cdp.send('Network.emulateNetworkConditions', FOUR_G)
  await page.goto(`${BASE}/timeline`)
  const timeline = await page.waitForFunction(() => document.querySelector('.item') && performance.now(), null, { timeout: 120_000 })

  await page.locator('.item', { hasText: STUDY }).first().click()
  const study = await page.waitForFunction(() => {
    const t = window.__yy.taps.at(-1)
    return document.querySelector('section[aria-labelledby=report-h] pre') && performance.now() - t
  }, null, { timeout: 120_000 })
  await page.waitForLoadState('networkidle') // the study page fetches the viewer's code while idle

  const scrubAnswer = page.waitForResponse((r) => /\/scrub\?window=/.test(r.url()), { timeout: 120_000 })
  await page.locator('a.series').first().click()
  const sheets = (await (await scrubAnswer).json()).sheet_urls.map((u) => new URL(u, BASE).href)
  const first = await page.waitForFunction(() => window.__yy.firstDraw !== null && window.__yy.firstDraw - window.__yy.taps.at(-1),
    null, { timeout: 120_000 })
  const scrubbable = await page.waitForFunction((urls) => {
    const d = window.__yy.decoded
    return urls.every((u) => u in d) && Math.max(...urls.map((u) => d[u])) - window.__yy.taps.at(-1)
  }, sheets, { timeout: 180_000 })
  out({ kind: 'run', n, timeline_ms: Math.round(await timeline.jsonValue()), study_ms: Math.round(await study.jsonValue()),
    first_slice_ms: Math.round(await first.jsonValue()), scrubbable_ms: Math.round(await scrubbable.jsonValue()), sheets: sheets.length })
  await context.close()
}

try {
  for (let n = 0; n < RUNS; n++) await run(n)
  await firstLoadJs('/timeline', '.item')
  if (process.env.VIEWER_PATH) await firstLoadJs(process.env.VIEWER_PATH, 'canvas.main')
} finally {
  await browser.close()
}
