// Browser timings of the doctor-viewer candidates for benchmarks/bench_doctor.py (docs/doctor-viewer.md):
// Debian's Chromium through playwright-core (pwa/node_modules), a desk PC (1440×900), a fresh context
// per run (empty cache; the share-session cookie set by opening the share link with the context's own
// request client), the network either loopback or shaped like hospital Wi-Fi by Chromium's emulation
// (CDP Network.emulateNetworkConditions). One JSON object per line on stdout:
//   {"kind": "run", "candidate", "network", "n", "first_image_ms", "js_bytes", "css_bytes", "wasm_bytes", "requests"}
//   {"kind": "check", "candidate", "what", "value", "expected", "unit"}
// first_image_ms: from the navigation's start to the first draw of the CT's middle slice onto the
// viewer's canvas. *_bytes: what crossed the wire (transferSize, gzip as served) until then.
// Env: CANDIDATES (JSON: [{name, base, url}]), SHARE_TOKEN, RUNS (default 5, plus one warm-up),
// NETWORKS ("loopback,wifi"), CHROMIUM.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../pwa/package.json', import.meta.url))
const { chromium } = require('playwright-core')

const CANDIDATES = JSON.parse(process.env.CANDIDATES ?? '[]')
const TOKEN = process.env.SHARE_TOKEN
const RUNS = Number(process.env.RUNS ?? 5)
const NETWORKS = (process.env.NETWORKS ?? 'loopback,wifi').split(',')
// Hospital Wi-Fi as doctors meet it on a ward PC: 50 ms round trip, 10 Mbit/s down, 5 Mbit/s up.
const WIFI = { offline: false, latency: 50, downloadThroughput: 10e6 / 8, uploadThroughput: 5e6 / 8 }
const PX_MM = 358.4 / 512 // the phantom's Pixel Spacing (tools/synthetic.py)
const out = (o) => console.log(JSON.stringify(o))

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
})

// Installed before any page code: the first drawImage onto a viewer canvas that leaves visible pixels.
// Ours draws onto canvas.cv; Cornerstone (prototype and OHIF) onto canvas.cornerstone-canvas.
function instrument() {
  window.__first = null
  const draw = CanvasRenderingContext2D.prototype.drawImage
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const result = draw.apply(this, args)
    const c = this.canvas
    if (window.__first === null && c.classList && (c.classList.contains('cv') || c.classList.contains('cornerstone-canvas')) && c.width > 200) {
      const row = this.getImageData(0, Math.floor(c.height / 2), c.width, 1).data
      let lit = 0
      for (let i = 0; i < row.length; i += 4) if (row[i] > 40) lit++
      if (lit > c.width / 20) window.__first = performance.now()
    }
    return result
  }
}

async function run(candidate, network, n) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', serviceWorkers: 'block' })
  await context.addInitScript(instrument)
  const opened = await context.request.get(`${candidate.base}/s/${TOKEN}`, { maxRedirects: 0 })
  if (opened.status() !== 303) throw new Error(`share link: ${opened.status()}`)
  const page = await context.newPage()
  if (network === 'wifi') {
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', WIFI)
  }
  await page.goto(`${candidate.base}${candidate.url}`)
  await page.waitForFunction(() => window.__first !== null, null, { timeout: 120_000, polling: 50 })
  const first = await page.evaluate(() => window.__first)
  const bytes = await page.evaluate((t) => {
    const sum = { js: 0, css: 0, wasm: 0, requests: 0 }
    for (const r of performance.getEntriesByType('resource')) {
      if (r.startTime > t) continue
      sum.requests++
      const path = new URL(r.name).pathname
      if (/\.m?js$/.test(path)) sum.js += r.transferSize
      else if (/\.css$/.test(path)) sum.css += r.transferSize
      else if (/\.wasm$/.test(path)) sum.wasm += r.transferSize
    }
    const nav = performance.getEntriesByType('navigation')[0]
    if (nav) sum.requests++
    return sum
  }, first)
  out({ kind: 'run', candidate: candidate.name, network, n, first_image_ms: Math.round(first), js_bytes: bytes.js, css_bytes: bytes.css, wasm_bytes: bytes.wasm, requests: bytes.requests })
  return { context, page }
}

async function drag(page, from, to) {
  await page.mouse.move(...from)
  await page.mouse.down()
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2, { steps: 4 })
  await page.mouse.move(...to, { steps: 4 })
  await page.mouse.up()
}

// Correctness on the phantom's middle slice: a 300-pixel line (210 mm) and circles in air, lung and fat.
const ROIS = [['air', 41, 41, 11, -1000], ['lung', 155.5, 252.5, 7, -850], ['fat', 37, 255.5, 4, -100]]

async function checkOurs(page) {
  await page.waitForSelector('[data-testid=viewport][data-ready=yes][data-matrix]')
  const at = async (x, y) => {
    const v = page.locator('[data-testid=viewport]').first()
    const box = await v.boundingBox()
    const m = (await v.getAttribute('data-matrix')).split(',').map(Number)
    return [box.x + m[0] * x + m[2] * y + m[4], box.y + m[1] * x + m[3] * y + m[5]]
  }
  await page.keyboard.press('l')
  await drag(page, await at(106, 256), await at(406, 256))
  const mm = Number(await page.locator('[data-testid=measure-length]').last().getAttribute('data-value'))
  out({ kind: 'check', candidate: 'hand-written', what: 'length', value: mm, expected: 300 * PX_MM, unit: 'mm' })
  await page.keyboard.press('e')
  for (const [name, x, y, r, hu] of ROIS) {
    await drag(page, await at(x - r, y - r), await at(x + r, y + r))
    const mean = Number(await page.locator('[data-testid=measure-ellipse]').last().getAttribute('data-mean'))
    out({ kind: 'check', candidate: 'hand-written', what: `roi_${name}`, value: mean, expected: hu, unit: 'HU' })
  }
}

async function checkCornerstone(page) {
  await page.waitForFunction(() => window.__bench?.ready, null, { timeout: 60_000 })
  const at = (x, y) => page.evaluate(([a, b]) => window.__bench.imageToPage(a, b), [x, y])
  await page.evaluate(() => window.__bench.setTool('Length'))
  await drag(page, await at(106, 256), await at(406, 256))
  await page.waitForTimeout(300) // the tools compute their statistics throttled (100 ms)
  let stats = await page.evaluate(() => window.__bench.stats())
  out({ kind: 'check', candidate: 'cornerstone3d', what: 'length', value: stats.at(-1)?.stats?.length ?? null, expected: 300 * PX_MM, unit: 'mm' })
  await page.evaluate(() => window.__bench.setTool('CircleROI'))
  for (const [name, x, y, r, hu] of ROIS) {
    await drag(page, await at(x, y), await at(x + r, y)) // CircleROI: from the centre to the rim
    await page.waitForTimeout(300)
    stats = await page.evaluate(() => window.__bench.stats())
    out({ kind: 'check', candidate: 'cornerstone3d', what: `roi_${name}`, value: stats.at(-1)?.stats?.mean ?? null, expected: hu, unit: 'HU' })
  }
}

// Round robin (run n of every candidate, then run n + 1 …): whatever the shared machine and the server
// do in the background (a fresh server pre-renders previews for a while) falls on all candidates alike.
for (const network of NETWORKS) {
  for (let n = 0; n <= RUNS; n++) { // run 0 warms the server and the candidate (reported with n=0)
    for (const candidate of CANDIDATES) {
      try {
        const { context, page } = await run(candidate, network, n)
        if (n === 1 && network === 'loopback') {
          try {
            if (candidate.name === 'hand-written') await checkOurs(page)
            else if (candidate.name === 'cornerstone3d') await checkCornerstone(page)
          } catch (e) {
            out({ kind: 'check', candidate: candidate.name, what: 'error', value: String(e).slice(0, 300) })
          }
        }
        await context.close()
      } catch (e) {
        out({ kind: 'error', candidate: candidate.name, network, n, error: String(e).slice(0, 300) })
      }
    }
  }
}
await browser.close()
