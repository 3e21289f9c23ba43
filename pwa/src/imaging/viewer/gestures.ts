// Pointer-event gestures for the viewer stage (touch, pen and mouse alike):
// one finger vertical = scroll slices (or free window/level in W/L mode), two fingers = pinch zoom
// and pan, double tap = fit. Transforms are applied by the caller as a CSS transform.

export interface GestureHandlers {
  mode: () => 'scroll' | 'wl'
  onScrollBy: (slices: number) => void
  onWindowDrag: (dx: number, dy: number, phase: 'start' | 'move' | 'end') => void
  onTransform: (t: { scale: number; x: number; y: number }) => void
  getTransform: () => { scale: number; x: number; y: number }
  onDoubleTap: () => void
  pxPerSlice: () => number
}

const DOUBLE_TAP_MS = 300
const TAP_SLOP = 10

export function attachGestures(el: HTMLElement, h: GestureHandlers): () => void {
  const pts = new Map<number, { x: number; y: number }>()
  let mode: 'none' | 'scroll' | 'wl' | 'pinch' = 'none'
  let start = { x: 0, y: 0 }
  let accumulated = 0
  let lastTap = 0
  let moved = false
  let pinch0: { dist: number; cx: number; cy: number; t: { scale: number; x: number; y: number } } | null = null

  const centroid = () => {
    const [a, b] = [...pts.values()]
    return { cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2, dist: Math.hypot(a.x - b.x, a.y - b.y) }
  }

  function down(e: PointerEvent) {
    try {
      el.setPointerCapture(e.pointerId)
    } catch {
      // synthetic or already-released pointers cannot be captured; the gesture still works
    }
    pts.set(e.pointerId, { x: e.clientX, y: e.clientY })
    if (pts.size === 1) {
      start = { x: e.clientX, y: e.clientY }
      accumulated = 0
      moved = false
      mode = h.mode()
      if (mode === 'wl') h.onWindowDrag(0, 0, 'start')
    } else if (pts.size === 2) {
      if (mode === 'wl') h.onWindowDrag(0, 0, 'end')
      mode = 'pinch'
      const c = centroid()
      pinch0 = { ...c, t: h.getTransform() }
    }
  }

  function move(e: PointerEvent) {
    const p = pts.get(e.pointerId)
    if (!p) return
    p.x = e.clientX
    p.y = e.clientY
    const dx = e.clientX - start.x
    const dy = e.clientY - start.y
    if (Math.hypot(dx, dy) > TAP_SLOP) moved = true
    if (mode === 'scroll') {
      const step = h.pxPerSlice()
      const slices = Math.trunc((dy - accumulated) / step)
      if (slices !== 0) {
        accumulated += slices * step
        h.onScrollBy(slices)
      }
    } else if (mode === 'wl') {
      h.onWindowDrag(dx, dy, 'move')
    } else if (mode === 'pinch' && pinch0 && pts.size >= 2) {
      const c = centroid()
      const rect = el.getBoundingClientRect()
      const scale = Math.min(8, Math.max(1, pinch0.t.scale * (c.dist / Math.max(1, pinch0.dist))))
      // Keep the image point under the fingers' starting centroid under their current centroid.
      const ox = pinch0.cx - rect.left - rect.width / 2
      const oy = pinch0.cy - rect.top - rect.height / 2
      const k = scale / pinch0.t.scale
      const x = c.cx - rect.left - rect.width / 2 - (ox - pinch0.t.x) * k
      const y = c.cy - rect.top - rect.height / 2 - (oy - pinch0.t.y) * k
      h.onTransform({ scale, x, y })
    }
  }

  function up(e: PointerEvent) {
    if (!pts.delete(e.pointerId)) return
    if (pts.size === 1 && mode === 'pinch') {
      // One finger left after a pinch: do not start scrolling from a jump.
      const [p] = [...pts.values()]
      start = { ...p }
      accumulated = 0
      mode = 'none'
      return
    }
    if (pts.size > 0) return
    if (mode === 'wl') h.onWindowDrag(e.clientX - start.x, e.clientY - start.y, 'end')
    if (!moved && mode !== 'pinch' && e.type === 'pointerup') {
      const now = performance.now()
      if (now - lastTap < DOUBLE_TAP_MS) {
        h.onDoubleTap()
        lastTap = 0
      } else lastTap = now
    }
    mode = 'none'
    pinch0 = null
  }

  function wheel(e: WheelEvent) {
    e.preventDefault()
    if (e.ctrlKey) {
      const t = h.getTransform()
      h.onTransform({ ...t, scale: Math.min(8, Math.max(1, t.scale * Math.exp(-e.deltaY / 200))) })
    } else h.onScrollBy(Math.sign(e.deltaY))
  }

  el.addEventListener('pointerdown', down)
  el.addEventListener('pointermove', move)
  el.addEventListener('pointerup', up)
  el.addEventListener('pointercancel', up)
  el.addEventListener('wheel', wheel, { passive: false })
  return () => {
    el.removeEventListener('pointerdown', down)
    el.removeEventListener('pointermove', move)
    el.removeEventListener('pointerup', up)
    el.removeEventListener('pointercancel', up)
    el.removeEventListener('wheel', wheel)
  }
}
