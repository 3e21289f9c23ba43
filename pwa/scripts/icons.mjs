// Renders icons/*.svg (drawn by hand for this project) to the PNG sizes the manifest and iOS need.
// The PNGs are committed; run `npm run icons` after changing the SVGs.
import { readFile, copyFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { launch } from './chromium.mjs'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const jobs = [
  ['icon.svg', 'icon-192.png', 192],
  ['icon.svg', 'icon-512.png', 512],
  ['maskable.svg', 'icon-maskable-512.png', 512],
  ['maskable.svg', 'apple-touch-icon.png', 180],
]
const browser = await launch()
const page = await browser.newPage()
for (const [src, out, size] of jobs) {
  const svg = await readFile(here(`../icons/${src}`), 'utf8')
  await page.setViewportSize({ width: size, height: size })
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`)
  await page.screenshot({ path: here(`../public/icons/${out}`), omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } })
  console.log(`public/icons/${out}`)
}
await browser.close()
await copyFile(here('../icons/icon.svg'), here('../public/icons/favicon.svg'))
