// The scrub strip: every frame of a series as small tiles on a few sprite sheets (see
// backend/imaging/rendering/scrub.py). Drawing a tile is a drawImage from an already-decoded sheet,
// so scrolling through hundreds of slices costs nothing on the network.
import type { ScrubLayout } from '@/imaging/api'

export class ScrubStrip {
  readonly layout: ScrubLayout
  private readonly urls: string[]
  private readonly sheets: (HTMLImageElement | null)[]
  private readonly pending = new Map<number, Promise<HTMLImageElement | null>>()
  onSheetLoaded: (() => void) | null = null

  constructor(layout: ScrubLayout, urls: string[]) {
    this.layout = layout
    this.urls = urls
    this.sheets = urls.map(() => null)
  }

  get frameCount(): number {
    return this.layout.frame_count
  }

  sheetOf(frame: number): number {
    return this.layout.frames[frame]?.[0] ?? 0
  }

  /** Loads the sheet holding `frame` first, then the others in order (the whole series becomes scrubbable). */
  async loadAll(startFrame = 0): Promise<void> {
    const first = this.sheetOf(startFrame)
    await this.load(first)
    for (let i = 0; i < this.urls.length; i++) if (i !== first) await this.load(i)
  }

  load(index: number): Promise<HTMLImageElement | null> {
    if (this.sheets[index]) return Promise.resolve(this.sheets[index])
    let p = this.pending.get(index)
    if (!p) {
      const img = new Image()
      img.decoding = 'async'
      img.src = this.urls[index]
      p = img
        .decode()
        .then(() => {
          this.sheets[index] = img
          this.onSheetLoaded?.()
          return img
        })
        .catch(() => null)
        .finally(() => this.pending.delete(index))
      this.pending.set(index, p)
    }
    return p
  }

  has(frame: number): boolean {
    return !!this.sheets[this.sheetOf(frame)]
  }

  /** The source rectangle of a frame on its sheet, or null when that sheet is not decoded yet. */
  source(frame: number): { img: HTMLImageElement; sx: number; sy: number; sw: number; sh: number } | null {
    const pos = this.layout.frames[frame]
    if (!pos) return null
    const img = this.sheets[pos[0]]
    if (!img) return null
    return { img, sx: pos[1], sy: pos[2], sw: this.layout.tile.width, sh: this.layout.tile.height }
  }

  sheetUrl(frame: number): string {
    return this.urls[this.sheetOf(frame)]
  }

  /** CSS background for a grid cell `cellWidth` px wide showing `frame` (no decoding on our side). */
  backgroundFor(frame: number, cellWidth: number): Record<string, string> {
    const pos = this.layout.frames[frame]
    const sheet = this.layout.sheets[pos?.[0] ?? 0]
    const k = cellWidth / this.layout.tile.width
    return {
      backgroundImage: `url("${this.sheetUrl(frame)}")`,
      backgroundSize: `${sheet.width * k}px ${sheet.height * k}px`,
      backgroundPosition: `${-(pos?.[1] ?? 0) * k}px ${-(pos?.[2] ?? 0) * k}px`,
    }
  }
}
