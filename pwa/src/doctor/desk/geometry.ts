// Patient geometry of a frame (PS3.3 C.7.6.2.1.1): Image Position (Patient) is the centre of the
// first pixel; Image Orientation (Patient) the direction cosines of a row (towards increasing column)
// and of a column (towards increasing row), in the patient's LPS system: +x to the patient's Left,
// +y to Posterior, +z to Head. Pixel Spacing is [between rows, between columns] (PS3.3 10.7.1.3).
import type { Slice } from './meta'

export type Vec3 = [number, number, number]
export interface Pt {
  x: number // column (image pixels, continuous: the centre of pixel (0,0) is at 0,0)
  y: number // row
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

export function normal(s: Slice): Vec3 | null {
  if (!s.orientation) return null
  const o = s.orientation
  return cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])
}

/**
 * The slice's position along its normal: Image Position (Patient) projected on row × column. Frames of
 * one stack are ordered by it, and two stacks are put in step by it (not by slice index: spacing and
 * coverage differ between studies).
 */
export function slicePosition(s: Slice): number | null {
  const n = normal(s)
  return n && s.position ? dot(s.position, n) : null
}

// Letters of the patient axes (PS3.3 C.7.6.1.1.1 Patient Orientation uses the same: L/R, A/P, H/F).
const AXES: [string, string][] = [['L', 'R'], ['P', 'A'], ['H', 'F']]
const OBLIQUE = 0.25 // a component shows as a letter when at least this large (cos 75°)

/** The direction a vector points to, as patient letters, largest component first ("L", "PL", "HFA"…). */
export function letters(v: Vec3): string {
  return [0, 1, 2]
    .filter((i) => Math.abs(v[i]) >= OBLIQUE)
    .sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]))
    .map((i) => AXES[i][v[i] > 0 ? 0 : 1])
    .join('')
}

export interface Markers {
  left: string
  right: string
  top: string
  bottom: string
}

/** Orientation markers at the edges of the displayed image (after the view's flips and rotation). */
export function markers(s: Slice, view: { rotate: number; flipH: boolean; flipV: boolean } = { rotate: 0, flipH: false, flipV: false }): Markers | null {
  if (!s.orientation) return null
  const o = s.orientation
  let right: Vec3 = [o[0], o[1], o[2]] // towards increasing column
  let down: Vec3 = [o[3], o[4], o[5]] // towards increasing row
  const neg = (v: Vec3): Vec3 => [-v[0], -v[1], -v[2]]
  if (view.flipH) right = neg(right)
  if (view.flipV) down = neg(down)
  for (let r = ((view.rotate % 360) + 360) % 360; r > 0; r -= 90) [right, down] = [neg(down), right] // 90° clockwise
  return { right: letters(right), left: letters(neg(right)), bottom: letters(down), top: letters(neg(down)) }
}

/** Millimetres between two image points (anisotropic spacing honoured); null without spacing. */
export function distanceMm(s: Slice, a: Pt, b: Pt): number | null {
  if (!s.spacing) return null
  const dx = (b.x - a.x) * s.spacing[1]
  const dy = (b.y - a.y) * s.spacing[0]
  return Math.hypot(dx, dy)
}

/** The angle at `vertex` between the rays to `a` and `b`, in degrees, measured in millimetres. */
export function angleDeg(s: Slice, a: Pt, vertex: Pt, b: Pt): number {
  const sx = s.spacing?.[1] ?? 1
  const sy = s.spacing?.[0] ?? 1
  const u = [(a.x - vertex.x) * sx, (a.y - vertex.y) * sy]
  const v = [(b.x - vertex.x) * sx, (b.y - vertex.y) * sy]
  const cos = (u[0] * v[0] + u[1] * v[1]) / (Math.hypot(u[0], u[1]) * Math.hypot(v[0], v[1]) || 1)
  return (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI
}

/** A round length for a scale bar at most `maxMm` long (1, 2, 5 × 10ⁿ mm). */
export function scaleBarMm(maxMm: number): number {
  if (!(maxMm > 0)) return 0
  const p = 10 ** Math.floor(Math.log10(maxMm))
  for (const f of [5, 2, 1]) if (f * p <= maxMm) return f * p
  return p
}
