// The doctor's measurements, on full-fidelity pixel values (never on a windowed JPEG). They live in the
// browser only: never sent, never written into the patient's record.
import { angleDeg, distanceMm, type Pt } from './geometry'
import type { Slice } from './meta'
import { valueAt, type Pixels } from './pixels'

export type Tool = 'wl' | 'pan' | 'zoom' | 'length' | 'angle' | 'ellipse' | 'probe'

export interface Measurement {
  id: number
  kind: 'length' | 'angle' | 'ellipse' | 'probe'
  sop: string
  frame: number
  points: Pt[] // length: 2; angle: 3 (a, vertex, b); ellipse: 2 (two opposite corners of its box); probe: 1
}

export interface RoiStats {
  mean: number
  sd: number // population standard deviation of the pixels inside
  min: number
  max: number
  count: number // pixels whose centres are inside
  areaMm2: number | null // the ellipse's own area, π·a·b, in mm² (null without spacing)
  unit: string | null
}

/**
 * Statistics of the modality values (HU for CT: PS3.3 C.11.1) of the pixels whose centres lie inside
 * the ellipse inscribed in the box with corners `a` and `b` (image coordinates; pixel centres at
 * integers). A circle is an ellipse with equal sides.
 */
export function ellipseStats(p: Pixels, a: Pt, b: Pt): RoiStats | null {
  const s = p.slice
  const cx = (a.x + b.x) / 2
  const cy = (a.y + b.y) / 2
  const rx = Math.abs(b.x - a.x) / 2
  const ry = Math.abs(b.y - a.y) / 2
  if (rx < 0.5 || ry < 0.5 || s.samples !== 1) return null
  let n = 0
  let sum = 0
  let sq = 0
  let lo = Infinity
  let hi = -Infinity
  const y0 = Math.max(0, Math.ceil(cy - ry))
  const y1 = Math.min(s.rows - 1, Math.floor(cy + ry))
  const x0 = Math.max(0, Math.ceil(cx - rx))
  const x1 = Math.min(s.columns - 1, Math.floor(cx + rx))
  for (let y = y0; y <= y1; y++) {
    const dy = (y - cy) / ry
    for (let x = x0; x <= x1; x++) {
      const dx = (x - cx) / rx
      if (dx * dx + dy * dy > 1) continue
      const v = valueAt(p, x, y)
      if (v === null) continue
      n++
      sum += v
      sq += v * v
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
  }
  if (!n) return null
  const mean = sum / n
  const variance = Math.max(0, sq / n - mean * mean)
  const area = s.spacing ? Math.PI * rx * s.spacing[1] * ry * s.spacing[0] : null
  return { mean, sd: Math.sqrt(variance), min: lo, max: hi, count: n, areaMm2: area, unit: s.unit }
}

export function lengthOf(s: Slice, m: Measurement): { value: number; unit: 'mm' | 'px' } {
  const [a, b] = m.points
  const mm = distanceMm(s, a, b)
  return mm !== null ? { value: mm, unit: 'mm' } : { value: Math.hypot(b.x - a.x, b.y - a.y), unit: 'px' }
}

export function angleOf(s: Slice, m: Measurement): number {
  const [a, v, b] = m.points
  return angleDeg(s, a, v, b)
}

/** The probe's value: the modality value (HU for CT) when there is a modality LUT, else the stored value. */
export function probeOf(p: Pixels, pt: Pt): { value: number; unit: string | null } | null {
  const x = Math.round(pt.x)
  const y = Math.round(pt.y)
  const v = valueAt(p, x, y)
  return v === null ? null : { value: v, unit: p.slice.unit }
}

/** Whether a length on this slice needs the projection-radiograph caveat (PS3.3 10.7.1.1, C.8.11.4). */
export function needsCaveat(s: Slice): boolean {
  return s.spacingKind === 'detector' || s.spacingKind === 'magnification'
}
