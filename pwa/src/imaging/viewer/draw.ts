// Draws one slice onto the stage canvas, fitted and centred (zoom/pan are a CSS transform on top).
import type { Decoded } from './previewCache'

export interface Source {
  img: CanvasImageSource
  sx: number
  sy: number
  sw: number
  sh: number
}

export function fromDecoded(image: Decoded): Source {
  const w = 'naturalWidth' in image ? image.naturalWidth : image.width
  const h = 'naturalHeight' in image ? image.naturalHeight : image.height
  return { img: image, sx: 0, sy: 0, sw: w, sh: h }
}

const MAX_BACKING_PIXELS = 8e6 // ~32 MB of RGBA: bounded even when zoomed on a 3× phone

/**
 * Resizes the backing store to the element's size × devicePixelRatio × `zoom` (the CSS scale the
 * canvas is shown at, so a zoomed image stays sharp), capped; true when it changed.
 */
export function fitCanvas(canvas: HTMLCanvasElement, zoom = 1): boolean {
  let k = Math.min(window.devicePixelRatio || 1, 3) * Math.max(1, zoom)
  const area = canvas.clientWidth * canvas.clientHeight * k * k
  if (area > MAX_BACKING_PIXELS) k *= Math.sqrt(MAX_BACKING_PIXELS / area)
  const w = Math.round(canvas.clientWidth * k)
  const h = Math.round(canvas.clientHeight * k)
  if (canvas.width === w && canvas.height === h) return false
  canvas.width = w
  canvas.height = h
  return true
}

/** `aspect` = displayed width / height of the frame (from the tile or the preview, whichever is known). */
export function drawSlice(canvas: HTMLCanvasElement, src: Source | null, aspect: number): void {
  const ctx = canvas.getContext('2d', { alpha: false })
  if (!ctx) return
  ctx.fillStyle = '#000'
  ctx.fillRect(0, 0, canvas.width, canvas.height)
  if (!src) return
  const k = Math.min(canvas.width / aspect, canvas.height)
  const dw = k * aspect
  const dh = k
  ctx.imageSmoothingEnabled = true
  ctx.imageSmoothingQuality = 'high'
  ctx.drawImage(src.img, src.sx, src.sy, src.sw, src.sh, (canvas.width - dw) / 2, (canvas.height - dh) / 2, dw, dh)
}
