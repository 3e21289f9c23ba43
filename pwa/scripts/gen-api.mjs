// Regenerates the typed API client's inputs from the backend's code (no server needed):
// 1. src/api/openapi.json — `python -m tools.openapi_spec` (create_app().openapi(), fixed settings);
// 2. src/api/schema.d.ts — openapi-typescript on that JSON (see schemaSource below).
// Both are committed, so a build needs no backend; tests/api/test_openapi_committed.py (the JSON) and
// src/api/schema.test.ts (the types) fail when either is stale.
// `npm run gen:api -- --offline` only regenerates the types from the committed JSON.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { schemaSource } from './schema-source.mjs'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const root = here('../../')

if (!process.argv.includes('--offline')) {
  const venvPython = here('../../.venv/bin/python')
  const python = process.env.PYTHON ?? (existsSync(venvPython) ? venvPython : 'python3')
  execFileSync(python, ['-m', 'tools.openapi_spec'], { cwd: root, stdio: 'inherit' })
}

const spec = await readFile(here('../src/api/openapi.json'), 'utf8')
await writeFile(here('../src/api/schema.d.ts'), await schemaSource(spec))
console.log('wrote src/api/schema.d.ts')
