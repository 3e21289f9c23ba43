// Frame cells → modality values → display greys. Pure functions over typed arrays (no DOM but ImageData).
// The server sends cells already masked to Bits Stored and sign-extended (backend/imaging/frames.py),
// little endian, Bits Allocated wide.
import type { Slice } from './meta'

export type Cells = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array

export interface Pixels {
  slice: Slice
  cells: Cells // stored values, rows × columns (× samples for colour)
  min: number // modality values (after the modality LUT)
  max: number
}

export function decode(buf: ArrayBuffer, s: Slice): Pixels {
  const n = s.rows * s.columns * s.samples
  let cells: Cells
  if (s.bitsAllocated === 8) cells = s.signed ? new Int8Array(buf, 0, n) : new Uint8Array(buf, 0, n)
  else if (s.bitsAllocated === 16) cells = s.signed ? new Int16Array(aligned(buf, 2), 0, n) : new Uint16Array(aligned(buf, 2), 0, n)
  else if (s.bitsAllocated === 32) cells = s.signed ? new Int32Array(aligned(buf, 4), 0, n) : new Uint32Array(aligned(buf, 4), 0, n)
  else throw new Error(`unsupported Bits Allocated ${s.bitsAllocated}`)
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < cells.length; i++) {
    const v = cells[i]
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  const a = lo * s.slope + s.intercept
  const b = hi * s.slope + s.intercept
  return { slice: s, cells, min: Math.min(a, b), max: Math.max(a, b) }
}

function aligned(buf: ArrayBuffer, size: number): ArrayBuffer {
  return buf.byteLength % size === 0 ? buf : buf.slice(0, buf.byteLength - (buf.byteLength % size))
}

/** The modality value (PS3.3 C.11.1: stored × Rescale Slope + Rescale Intercept) at column x, row y. */
export function valueAt(p: Pixels, x: number, y: number): number | null {
  const s = p.slice
  if (x < 0 || y < 0 || x >= s.columns || y >= s.rows || s.samples !== 1) return null
  return p.cells[y * s.columns + x] * s.slope + s.intercept
}

/** The stored value itself (for images without a modality LUT the probe shows it as it is). */
export function storedAt(p: Pixels, x: number, y: number): number | null {
  const s = p.slice
  if (x < 0 || y < 0 || x >= s.columns || y >= s.rows || s.samples !== 1) return null
  return p.cells[y * s.columns + x]
}

/**
 * Greys for display, into `out` (RGBA, rows × columns): the modality LUT, then the linear VOI function
 * of PS3.3 C.11.2.1.2.1 — y = ((x − (c − 0.5)) / (w − 1) + 0.5) · 255, clipped — inverted for
 * MONOCHROME1 (C.7.6.3.1.2) and when the doctor inverts. A 16-bit table makes it one lookup per pixel.
 */
export function render(p: Pixels, win: { center: number; width: number }, invert: boolean, out: ImageData): void {
  const s = p.slice
  const data = out.data
  const c = win.center - 0.5
  const w = Math.max(1, win.width - 1)
  const flip = (s.photometric === 'MONOCHROME1') !== invert
  const grey = (v: number) => {
    const m = v * s.slope + s.intercept
    let g = ((m - c) / w + 0.5) * 255
    g = g < 0 ? 0 : g > 255 ? 255 : g
    return flip ? 255 - g : g
  }
  const cells = p.cells
  const n = s.rows * s.columns
  if (s.samples === 1 && (cells instanceof Int16Array || cells instanceof Uint16Array || cells instanceof Int8Array || cells instanceof Uint8Array)) {
    const offset = cells instanceof Int16Array ? 32768 : cells instanceof Int8Array ? 128 : 0
    const size = cells instanceof Int16Array || cells instanceof Uint16Array ? 65536 : 256
    const table = new Uint8ClampedArray(size)
    for (let i = 0; i < size; i++) table[i] = grey(i - offset)
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const g = table[cells[i] + offset]
      data[j] = data[j + 1] = data[j + 2] = g
      data[j + 3] = 255
    }
    return
  }
  if (s.samples === 1) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const g = grey(cells[i])
      data[j] = data[j + 1] = data[j + 2] = g
      data[j + 3] = 255
    }
    return
  }
  // Colour (RGB; PS3.3 C.7.6.3.1.3 planar configuration 0 = R1G1B1R2…, 1 = RR…GG…BB…)
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const at = s.planar === 1 ? [i, i + n, i + 2 * n] : [3 * i, 3 * i + 1, 3 * i + 2]
    data[j] = cells[at[0]]
    data[j + 1] = cells[at[1]]
    data[j + 2] = cells[at[2]]
    data[j + 3] = 255
  }
}
