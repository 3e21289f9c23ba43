// First-load JavaScript (gzip) of the built app: the entry with everything it imports statically
// (what index.html loads), and the same plus each lazy route's chunks. Prints JSON lines.
// Budget (issue 10): ≤ 200 KB gzip. Exit code 1 when the entry alone exceeds it.
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const manifest = JSON.parse(readFileSync(`${dist}.vite/manifest.json`, 'utf8'))
const BUDGET_KB = Number(process.env.BUDGET_KB ?? 200)

function closure(key, seen = new Set()) {
  if (seen.has(key)) return seen
  seen.add(key)
  for (const k of manifest[key].imports ?? []) closure(k, seen)
  return seen
}
const gz = (file) => gzipSync(readFileSync(dist + file), { level: 9 }).length
const sizeOf = (keys) => [...keys].filter((k) => manifest[k].file.endsWith('.js')).reduce((n, k) => n + gz(manifest[k].file), 0)

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry)
const entry = closure(entryKey)
const entryKb = sizeOf(entry) / 1024
console.log(JSON.stringify({ bench: 'pwa_first_load_js', metric: 'gzip_kb', value: +entryKb.toFixed(1), unit: 'KB', route: '(entry)', budget: BUDGET_KB }))
for (const [k, v] of Object.entries(manifest)) {
  if (!v.isDynamicEntry || !/View\.vue$/.test(k)) continue
  const keys = closure(k, new Set(entry))
  console.log(JSON.stringify({ bench: 'pwa_first_load_js', metric: 'gzip_kb', value: +(sizeOf(keys) / 1024).toFixed(1), unit: 'KB', route: k.replace(/^src\//, '') }))
}
process.exit(entryKb > BUDGET_KB ? 1 : 0)
