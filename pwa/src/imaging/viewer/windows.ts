// Window presets (the ids the backend's imaging/rendering/presets.py uses) and the W/L arithmetic.
import type { WindowSpec } from '@/api/endpoints'

export interface PresetDef {
  id: string
  center: number | null // null: chosen by the server (auto / device window)
  width: number | null
}

// Standard CT windows in Hounsfield units (centre/width), same values as the backend's CT_PRESETS.
export const CT_PRESETS: PresetDef[] = [
  { id: 'lung', center: -600, width: 1500 },
  { id: 'mediastinum', center: 40, width: 400 },
  { id: 'bone', center: 400, width: 1800 },
  { id: 'brain', center: 40, width: 80 },
  { id: 'abdomen', center: 60, width: 400 },
]
export const AUTO: PresetDef = { id: 'auto', center: null, width: null }

export function presetsFor(modality: string | null | undefined): PresetDef[] {
  return modality === 'CT' ? [AUTO, ...CT_PRESETS] : [AUTO]
}

export function windowKey(w: WindowSpec): string {
  return 'preset' in w ? w.preset : `${Math.round(w.center)}/${Math.round(w.width)}`
}

/** Centre/width of a window when known (a preset with fixed values, or a custom window). */
export function numeric(w: WindowSpec): { center: number; width: number } | null {
  if (!('preset' in w)) return w
  const p = CT_PRESETS.find((x) => x.id === w.preset)
  return p && p.center !== null && p.width !== null ? { center: p.center, width: p.width } : null
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
  return { center: start.center + dy * scale, width: Math.max(1, start.width + dx * scale) }
}
