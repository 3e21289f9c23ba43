// One series as a stack of frames for a viewport. First image fast: the instance list (QIDO, from the
// index) names the middle instance, whose own metadata and frame are fetched at once; the whole
// series' metadata follows and orders the stack by position along the normal. Frames are fetched
// around the slice on screen, nearest first, a few at a time, and kept within a memory budget.
import { frame, instanceMetadata, renderedUrl, seriesInstances, seriesMetadata } from './dicomweb'
import { isGrey, slicesOf, type Slice } from './meta'
import { slicePosition } from './geometry'
import { decode, type Pixels } from './pixels'

export interface Entry {
  sop: string
  frame: number
  slice: Slice | null // null until its metadata has arrived
}

export type Loaded = { kind: 'pixels'; pixels: Pixels } | { kind: 'image'; image: HTMLImageElement; slice: Slice }

const PARALLEL = 4

/** Frames the browser windows itself: greyscale (and plain RGB); other colour models come rendered. */
function raw(s: Slice): boolean {
  return isGrey(s) || s.photometric === 'RGB'
}
const BUDGET_BYTES = 768 * 1024 * 1024 // decoded cells kept per stack, at most

export class Stack {
  entries: Entry[] = []
  sorted = false // ordered by position (true once the series metadata is in)
  error: unknown = null
  onChange: () => void = () => {}
  onReorder: (index: number) => void = () => {}
  private cache = new Map<string, Loaded>()
  private pending = new Map<string, Promise<void>>()
  private metaWaits = new Map<string, Promise<void>>()
  private focus = 0
  private running = 0
  private bytes = 0
  private aborter = new AbortController()

  constructor(readonly study: string, readonly series: string) {}

  /** Loads the instance list and the middle frame's metadata; returns the index to show first. */
  async open(): Promise<number> {
    const signal = this.aborter.signal
    const list = await seriesInstances(this.study, this.series, signal)
    this.entries = list.flatMap((i) => Array.from({ length: Math.max(1, i.frames) }, (_, f) => ({ sop: i.sop, frame: f + 1, slice: null })))
    const middle = Math.floor(this.entries.length / 2)
    this.setFocus(middle) // its frame and its metadata are asked for together (load)
    // The whole series' metadata only once the first frame is in: parsing 300 headers costs the server
    // ~0.7 s of CPU, which would otherwise delay the first image it serves at the same time.
    const first = this.entries[middle]
    const firstLoad = this.pending.get(`${first.sop}#${first.frame}`) ?? Promise.resolve()
    void firstLoad.finally(() => void this.loadSeriesMeta())
    return middle
  }

  dispose() {
    this.aborter.abort()
    this.cache.clear()
  }

  private async loadSeriesMeta() {
    try {
      const all = await seriesMetadata(this.study, this.series, this.aborter.signal)
      const slices = all.flatMap((m) => slicesOf(m, this.study, this.series))
      const current = this.entries[this.focus]
      const byKey = new Map(slices.map((s) => [`${s.sop}#${s.frame}`, s]))
      for (const e of this.entries) e.slice = byKey.get(`${e.sop}#${e.frame}`) ?? e.slice
      const known = new Set(this.entries.map((e) => `${e.sop}#${e.frame}`))
      for (const s of slices) if (!known.has(`${s.sop}#${s.frame}`)) this.entries.push({ sop: s.sop, frame: s.frame, slice: s })
      this.sortByPosition()
      if (current) this.focus = Math.max(0, this.entries.findIndex((e) => e.sop === current.sop && e.frame === current.frame))
      this.sorted = true
      this.onReorder(this.focus)
      this.onChange()
      this.pump()
    } catch (e) {
      if (!this.aborter.signal.aborted) console.warn('series metadata', e) // per-instance metadata still works
    }
  }

  /**
   * PS3.3 C.7.6.2.1.1: the stack in order of position along the normal, from the first slice's side
   * towards the patient's head/left/posterior reversed so that instance 1 usually stays first. Frames
   * without geometry keep their Instance Number order.
   */
  private sortByPosition() {
    const pos = this.entries.map((e) => (e.slice ? slicePosition(e.slice) : null))
    if (pos.some((p) => p === null) || this.entries.length < 2) return
    const order = this.entries.map((e, i) => ({ e, p: pos[i] as number, n: e.slice?.number ?? 0, f: e.frame }))
    const firstByNumber = [...order].sort((a, b) => a.n - b.n || a.f - b.f)
    const ascending = firstByNumber[0].p <= firstByNumber[firstByNumber.length - 1].p
    order.sort((a, b) => (ascending ? a.p - b.p : b.p - a.p) || a.n - b.n || a.f - b.f)
    this.entries = order.map((o) => o.e)
  }

  async ensureMeta(index: number): Promise<Slice | null> {
    const e = this.entries[index]
    if (!e) return null
    if (e.slice) return e.slice
    let wait = this.metaWaits.get(e.sop)
    if (!wait) {
      wait = instanceMetadata(this.study, this.series, e.sop, this.aborter.signal).then((m) => {
        for (const s of slicesOf(m, this.study, this.series)) {
          const target = this.entries.find((x) => x.sop === s.sop && x.frame === s.frame)
          if (target && !target.slice) target.slice = s
        }
      })
      this.metaWaits.set(e.sop, wait)
    }
    await wait
    return e.slice
  }

  get(index: number): Loaded | null {
    const e = this.entries[index]
    return e ? (this.cache.get(`${e.sop}#${e.frame}`) ?? null) : null
  }

  /** The slice on screen changed: fetch it first, then its neighbours outwards. */
  setFocus(index: number) {
    this.focus = Math.max(0, Math.min(this.entries.length - 1, index))
    this.pump()
  }

  private next(): number | null {
    const n = this.entries.length
    for (let d = 0; d < n; d++) {
      for (const i of d ? [this.focus + d, this.focus - d] : [this.focus]) {
        if (i < 0 || i >= n) continue
        const e = this.entries[i]
        // neighbours wait for the series metadata (one request for all) rather than asking one by one;
        // only the slice on screen may fetch its own
        if (d && !e.slice) continue
        const key = `${e.sop}#${e.frame}`
        if (!this.cache.has(key) && !this.pending.has(key)) return i
      }
      if (d > 160 && this.bytes > BUDGET_BYTES * 0.9) return null // far enough: keep memory for what is near
    }
    return null
  }

  private pump() {
    // until the first frame is in, it travels alone: nothing competes with the first image
    const parallel = this.cache.size ? PARALLEL : 1
    while (this.running < parallel) {
      const i = this.next()
      if (i === null) return
      const e = this.entries[i]
      const key = `${e.sop}#${e.frame}`
      this.running++
      const job = this.load(i)
        .catch((err) => {
          if (!this.aborter.signal.aborted && i === this.focus) this.error = err
        })
        .finally(() => {
          this.running--
          this.pending.delete(key)
          if (!this.aborter.signal.aborted) this.pump()
        })
      this.pending.set(key, job)
    }
  }

  private async load(index: number) {
    const e = this.entries[index]
    const key = `${e.sop}#${e.frame}`
    // the frame and (when not known yet) the instance's metadata travel together: one round trip
    const known = e.slice
    const fetching = !known || raw(known) ? frame(this.study, this.series, e.sop, e.frame, this.aborter.signal) : null
    // If the metadata fails first (the desk closed, the share ended: aborted), nobody awaits the frame:
    // mark its rejection handled, or the page reports an unhandled AbortError.
    fetching?.catch(() => {})
    const s = await this.ensureMeta(index)
    if (!s) return
    if (raw(s) && fetching) {
      const pixels = decode(await fetching, s)
      this.cache.set(key, { kind: 'pixels', pixels })
      this.bytes += pixels.cells.byteLength
      this.evict()
    } else {
      fetching?.catch(() => {}) // YBR / palette colour: the server renders it (the browser has no palette tables)
      const image = new Image()
      image.src = renderedUrl(this.study, this.series, e.sop, e.frame)
      await image.decode()
      this.cache.set(key, { kind: 'image', image, slice: s })
    }
    if (Math.abs(index - this.focus) <= 1) this.onChange()
  }

  private evict() {
    if (this.bytes <= BUDGET_BYTES) return
    const far = this.entries
      .map((e, i) => ({ key: `${e.sop}#${e.frame}`, d: Math.abs(i - this.focus) }))
      .filter((x) => this.cache.has(x.key))
      .sort((a, b) => b.d - a.d)
    for (const { key } of far) {
      if (this.bytes <= BUDGET_BYTES * 0.8) break
      const hit = this.cache.get(key)
      if (hit?.kind === 'pixels') this.bytes -= hit.pixels.cells.byteLength
      this.cache.delete(key)
    }
  }

  /** The index whose position along the normal is nearest to `position` (mm); null without geometry. */
  nearest(position: number): number | null {
    let best: number | null = null
    let bestD = Infinity
    this.entries.forEach((e, i) => {
      const p = e.slice ? slicePosition(e.slice) : null
      if (p === null) return
      const d = Math.abs(p - position)
      if (d < bestD) {
        bestD = d
        best = i
      }
    })
    return best
  }
}
