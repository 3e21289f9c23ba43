// A viewport's view of its image: fit, zoom, pan, rotation and flips, and the mapping between image
// pixels and the canvas (CSS pixels). Pixel aspect follows Pixel Spacing (rows vs columns may differ).
import type { Pt } from './geometry'

export interface ViewState {
  zoom: number // 1 = fitted to the viewport
  panX: number // CSS px
  panY: number
  rotate: number // degrees clockwise, multiples of 90
  flipH: boolean
  flipV: boolean
  invert: boolean
}

export const FRESH: ViewState = { zoom: 1, panX: 0, panY: 0, rotate: 0, flipH: false, flipV: false, invert: false }

export interface Box {
  width: number
  height: number
}

/** Image pixels → CSS px of the viewport, as a 2-D affine map [a, b, c, d, e, f] (canvas setTransform order). */
export function imageToScreen(view: ViewState, box: Box, img: { columns: number; rows: number; aspect: number }): [number, number, number, number, number, number] {
  // aspect = displayed height of one pixel / its width (row spacing / column spacing)
  const rot = ((view.rotate % 360) + 360) % 360
  const w = img.columns
  const h = img.rows * img.aspect
  const [bw, bh] = rot % 180 === 0 ? [w, h] : [h, w]
  const fit = Math.min(box.width / bw, box.height / bh)
  const s = fit * view.zoom
  // centre the image on the origin (pixel centres at integer coordinates), then flip, rotate, scale, move
  let m: [number, number, number, number, number, number] = [1, 0, 0, img.aspect, -(w - 1) / 2, (-(img.rows - 1) / 2) * img.aspect]
  const flip: [number, number] = [view.flipH ? -1 : 1, view.flipV ? -1 : 1]
  m = mul([flip[0], 0, 0, flip[1], 0, 0], m)
  const rad = (rot * Math.PI) / 180
  const cos = Math.round(Math.cos(rad))
  const sin = Math.round(Math.sin(rad))
  m = mul([cos, sin, -sin, cos, 0, 0], m)
  m = mul([s, 0, 0, s, box.width / 2 + view.panX, box.height / 2 + view.panY], m)
  return m
}

function mul(a: number[], b: number[]): [number, number, number, number, number, number] {
  // [a b c d e f] as the matrix ((a c e) (b d f) (0 0 1)); returns a × b
  return [
    a[0] * b[0] + a[2] * b[1],
    a[1] * b[0] + a[3] * b[1],
    a[0] * b[2] + a[2] * b[3],
    a[1] * b[2] + a[3] * b[3],
    a[0] * b[4] + a[2] * b[5] + a[4],
    a[1] * b[4] + a[3] * b[5] + a[5],
  ]
}

export function apply(m: number[], p: Pt): Pt {
  return { x: m[0] * p.x + m[2] * p.y + m[4], y: m[1] * p.x + m[3] * p.y + m[5] }
}

export function invert(m: number[]): [number, number, number, number, number, number] {
  const det = m[0] * m[3] - m[1] * m[2]
  return [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det, (m[2] * m[5] - m[3] * m[4]) / det, (m[1] * m[4] - m[0] * m[5]) / det]
}

/** CSS px on screen per millimetre of the image, along its columns (for the scale bar). */
export function pxPerMm(m: number[], columnSpacing: number): number {
  return Math.hypot(m[0], m[1]) / columnSpacing
}
