// Windows as the backend names them (backend/imaging/previews/spec.py): "default" (the file's own
// VOI), "auto", the CT presets, "file-N", or a custom "c<centre>w<width>". Plus the W/L arithmetic.
import { customWindowId } from '@/imaging/api'

export const DEFAULT_WINDOW = 'default'

// Standard CT windows in Hounsfield units (centre/width), the same values as the backend's CT_PRESETS.
const CT: Record<string, { center: number; width: number }> = {
  lung: { center: -600, width: 1500 },
  mediastinum: { center: 40, width: 400 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
  abdomen: { center: 60, width: 400 },
}

const CUSTOM = /^c(-?\d+(?:\.\d+)?)w(\d+(?:\.\d+)?)$/

/** Centre/width of a window when known (a CT preset or a custom window); null for default/auto/file-N. */
export function numeric(id: string): { center: number; width: number } | null {
  if (CT[id]) return CT[id]
  const m = CUSTOM.exec(id)
  return m ? { center: Number(m[1]), width: Number(m[2]) } : null
}

export function isCustom(id: string): boolean {
  return CUSTOM.test(id)
}

export function toId(w: { center: number; width: number }): string {
  return customWindowId(w.center, w.width)
}

/**
 * Instant feedback while dragging the window: an image rendered with window (c0, w0) shown as if
 * rendered with (c1, w1) is a linear map of its grey values (PS3.3 C.11.2.1.2 linear VOI function):
 * out' = out·w0/w1 + (c0 − w0/2 − c1 + w1/2)/w1. Returned as slope/intercept for an SVG
 * feComponentTransfer filter. (Values clipped by the first window cannot come back; the sharp
 * preview in the new window replaces this approximation a moment later.)
 */
export function linearRemap(from: { center: number; width: number }, to: { center: number; width: number }) {
  const slope = from.width / to.width
  const intercept = (from.center - from.width / 2 - to.center + to.width / 2) / to.width
  return { slope, intercept }
}

/** Free window/level drag: right = wider, down = higher level (the convention of most viewers). */
export function dragWindow(start: { center: number; width: number }, dx: number, dy: number, modality: string | null | undefined) {
  const scale = modality === 'CT' ? 4 : Math.max(1, start.width / 200)
  return { center: Math.round(start.center + dy * scale), width: Math.max(1, Math.round(start.width + dx * scale)) }
}
