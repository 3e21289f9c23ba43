// The generated types are what the committed OpenAPI description gives: regenerate both with
// `npm run gen:api` (tests/api/test_openapi_committed.py checks the JSON against the backend's code).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { schemaSource } from '../../scripts/schema-source.mjs'

const read = (p: string) => readFileSync(fileURLToPath(new URL(p, import.meta.url)), 'utf8')

describe('src/api/schema.d.ts', () => {
  it('is up to date with src/api/openapi.json (else run `npm run gen:api`)', async () => {
    const fresh = await schemaSource(read('./openapi.json'))
    expect(read('./schema.d.ts') === fresh, 'schema.d.ts is stale: run `npm run gen:api` in pwa/').toBe(true)
  })

  it('types the timeline data per kind and the scrub answer (not free-form objects)', () => {
    const types = read('./schema.d.ts')
    for (const name of ['StudyTimelineItem', 'LabTimelineItem', 'CheckupTimelineItem', 'OtherTimelineItem', 'ScrubAnswer', 'SeriesPreviews']) {
      expect(types).toContain(`        ${name}: {`)
    }
  })
})
