// One line per visit in the access history (issue 19 item 3): a doctor's visit is an open of the link,
// the studies read, images scrolled, downloads and wrong access codes — a dozen log rows that say one
// thing. Rows of the same visitor less than 30 minutes apart form one visit, whoever else looked in
// between (the patient checking "my shares" while the doctor reads must not cut the doctor's visit).
export interface VisitRow {
  id: string
  at: string
  event_type: string
  title: string | null
  action: { zh: string; en: string }
  browser?: string | null
}

export interface Visit<R extends VisitRow> {
  id: string
  /** newest row first; `first` is the row that names the visitor */
  first: R
  at: string
  since: string
  opened: number
  titles: string[]
  images: number
  downloads: number
  wrongCodes: number
  /** what else was done, in the order first done: the rows' own action labels */
  others: { zh: string; en: string }[]
  browser: string | null
}

const GAP_MS = 30 * 60_000
const DOWNLOADS = new Set(['share.download', 'study.report.pdf', 'lab.report.pdf', 'summary.pdf', 'checkup.report.pdf'])
// Scrolling images: the phone viewer's series views, the desk's DICOMweb reads.
const IMAGES = new Set(['series.view', 'dicom.wado'])

/** Rows newest first → visits newest first; `who` names the visitor of a row. */
export function groupVisits<R extends VisitRow>(rows: R[], who: (r: R) => string, gapMs = GAP_MS): Visit<R>[] {
  const visits: Visit<R>[] = []
  const open = new Map<string, Visit<R>>() // each visitor's visit being collected
  for (const r of rows) {
    const k = who(r)
    let v = open.get(k)
    if (!v || Date.parse(v.since) - Date.parse(r.at) >= gapMs) {
      v = { id: r.id, first: r, at: r.at, since: r.at, opened: 0, titles: [], images: 0, downloads: 0, wrongCodes: 0, others: [], browser: null }
      visits.push(v)
      open.set(k, v)
    }
    v.since = r.at
    v.browser ??= r.browser ?? null
    if (r.event_type === 'share.open') v.opened += 1
    else if (r.event_type === 'share.code_failed') v.wrongCodes += 1
    else if (DOWNLOADS.has(r.event_type)) v.downloads += 1
    else if (IMAGES.has(r.event_type)) v.images += 1
    else if (!r.title && !v.others.some((o) => o.zh === r.action.zh)) v.others.unshift(r.action)
    if (r.title && !v.titles.includes(r.title)) v.titles.unshift(r.title)
  }
  return visits
}
