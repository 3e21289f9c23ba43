import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { markTerms } from './mark'
import { SOURCES, TERMS } from './terms'

describe('glossary words in a report (issue 19 item 5)', () => {
  it('marks the longest known word, once, and keeps every character', () => {
    const text = '右肺上叶磨玻璃结节，边界清楚；另见钙化灶及磨玻璃结节。'
    const pieces = markTerms(text, TERMS)
    expect(pieces.map((p) => p.text).join('')).toBe(text)
    expect(pieces.filter((p) => p.term).map((p) => p.text)).toEqual(['右肺上叶', '磨玻璃结节', '边界清', '钙化灶'])
  })

  it('has a source and both languages for every word, and no word twice', () => {
    for (const t of TERMS) expect([t.zh.length > 5, t.en.length > 5, !!SOURCES[t.source]]).toEqual([true, true, true])
    expect(new Set(TERMS.map((t) => t.term)).size).toBe(TERMS.length)
  })

  it('finds glossary words in every line of real report phrasing (tests/data/report_phrases.txt)', () => {
    const lines = readFileSync(new URL('../../../tests/data/report_phrases.txt', import.meta.url), 'utf-8')
      .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    expect(lines.length).toBeGreaterThan(30)
    const found = new Set<string>()
    for (const line of lines) {
      const words = markTerms(line, TERMS).filter((p) => p.term).map((p) => p.text)
      expect(words, line).not.toEqual([])
      words.forEach((w) => found.add(w))
    }
    for (const w of ['磨玻璃结节', '钙化灶', '占位性病变', '强化']) expect(found.has(w), w).toBe(true)
    expect(TERMS.length).toBeGreaterThanOrEqual(250)
  })
})
