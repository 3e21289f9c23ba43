// Cut a report's text into plain runs and glossary words (longest word first, no overlaps), so the
// page can make each known word tappable (issue 19 item 5). Pure.
import type { Term } from './terms'

export type Piece = { text: string; term?: Term }

export function markTerms(text: string, terms: Term[]): Piece[] {
  if (!text) return []
  const byLength = [...terms].sort((a, b) => b.term.length - a.term.length)
  const pieces: Piece[] = []
  let plain = ''
  let i = 0
  const seen = new Set<string>() // each word once per text: a page of buttons helps nobody
  while (i < text.length) {
    const hit = byLength.find((t) => text.startsWith(t.term, i))
    if (hit && seen.has(hit.term)) {
      plain += hit.term // said once already: plain text (not its shorter parts either)
      i += hit.term.length
    } else if (hit) {
      if (plain) pieces.push({ text: plain })
      plain = ''
      pieces.push({ text: hit.term, term: hit })
      seen.add(hit.term)
      i += hit.term.length
    } else {
      plain += text[i]
      i += 1
    }
  }
  if (plain) pieces.push({ text: plain })
  return pieces
}
