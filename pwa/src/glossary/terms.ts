// A curated glossary of common words in Chinese imaging, ultrasound and checkup reports (issue 19 item 5):
// what a word means in general, in plain language, with the source each explanation follows. Shown when a
// reader taps the word in a report; it never says what the word means for this person (that is the
// doctor's to say). The data is terms.json (explanations written for this project, not copied; checked by
// tests/glossary/test_glossary.py and mark.test.ts against real report phrasing).
import data from './terms.json'

export interface Term {
  term: string
  zh: string
  en: string
  source: string // a key of SOURCES
}

export const SOURCES: Record<string, string> = data.sources
export const TERMS: Term[] = data.terms
