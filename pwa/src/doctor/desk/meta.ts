// DICOM JSON → what the workstation needs of one frame: pixel layout (PS3.3 C.7.6.3), modality LUT
// (C.11.1), VOI window (C.11.2), geometry (C.7.6.2) and pixel spacing with its meaning (PS3.3 10.7.1).
// Enhanced multi-frame objects carry these per frame in functional groups (C.7.6.16): the per-frame
// item wins over the shared one.
import { num, nums, str, type DicomJson } from './dicomweb'

/** How Pixel Spacing is to be read (PS3.3 10.7.1.1–10.7.1.3; C.8.11.4 for Imager Pixel Spacing). */
export type SpacingKind =
  | 'patient' // cross-sectional images (CT, MR, …): in the patient, Pixel Spacing (C.7.6.2.1.1)
  | 'calibrated' // projection radiograph whose Pixel Spacing was calibrated (Pixel Spacing Calibration Type)
  | 'magnification' // Imager Pixel Spacing corrected by the Estimated Radiographic Magnification Factor
  | 'detector' // projection radiograph: at the detector plane, not corrected for magnification
  | 'none' // no spacing: measurements in pixels

export interface Slice {
  study: string
  series: string
  sop: string
  frame: number // 1-based, as WADO-RS numbers frames
  number: number | null
  rows: number
  columns: number
  bitsAllocated: number
  bitsStored: number
  signed: boolean
  samples: number
  planar: number
  photometric: string
  slope: number
  intercept: number
  /** "HU" for CT (and whenever Rescale Type says so), else the modality LUT's unit or null */
  unit: string | null
  windows: { center: number; width: number }[]
  spacing: [number, number] | null // [between rows (vertical), between columns (horizontal)] mm
  spacingKind: SpacingKind
  position: [number, number, number] | null // Image Position (Patient), mm
  orientation: [number, number, number, number, number, number] | null // Image Orientation (Patient)
  thickness: number | null
  modality: string
  seriesDescription: string | null
  seriesNumber: number | null
  studyDate: string | null
  frameOfReference: string | null
  frameTimeMs: number | null
}

const PROJECTION = new Set(['CR', 'DX', 'MG', 'IO', 'XA', 'RF', 'PX', 'DR'])
type Groups = { shared: DicomJson | null; frame: DicomJson | null }

function item(m: DicomJson | null, tag: string, index = 0): DicomJson | null {
  const v = m?.[tag]?.Value?.[index]
  return v && typeof v === 'object' ? (v as DicomJson) : null
}

/** A value from the frame's functional group `seq` (per frame, else shared), else the top level. */
function fg<T>(g: Groups, seq: string, read: (m: DicomJson) => T | null, top: DicomJson, topRead = read): T | null {
  for (const group of [g.frame, g.shared]) {
    const inner = item(group, seq)
    const v = inner ? read(inner) : null
    if (v !== null && v !== undefined) return v
  }
  return topRead(top)
}

export function slicesOf(m: DicomJson, study: string, series: string): Slice[] {
  const frames = Math.max(1, num(m, '00280008') ?? 1)
  return Array.from({ length: frames }, (_, i) => sliceOf(m, study, series, i))
}

function sliceOf(m: DicomJson, study: string, series: string, index: number): Slice {
  const g: Groups = { shared: item(m, '52009229'), frame: item(m, '52009230', index) }
  const modality = str(m, '00080060') ?? ''
  const bitsAllocated = num(m, '00280100') ?? 16
  const slope = fg(g, '00289145', (x) => num(x, '00281053'), m) ?? 1
  const intercept = fg(g, '00289145', (x) => num(x, '00281052'), m) ?? 0
  const rescaleType = fg(g, '00289145', (x) => str(x, '00281054'), m)
  const centers = fg(g, '00289132', (x) => nums(x, '00281050'), m) ?? []
  const widths = fg(g, '00289132', (x) => nums(x, '00281051'), m) ?? []
  const windows = centers.map((c, i) => ({ center: c, width: widths[i] ?? widths[0] })).filter((w) => w.width > 0)
  const pixelSpacing = fg(g, '00289110', (x) => pair(nums(x, '00280030')), m)
  const { spacing, spacingKind } = spacingOf(m, modality, pixelSpacing)
  const pos = fg(g, '00209113', (x) => nums(x, '00200032'), m)
  const iop = fg(g, '00209116', (x) => nums(x, '00200037'), m)
  return {
    study, series, sop: str(m, '00080018') ?? '', frame: index + 1, number: num(m, '00200013'),
    rows: num(m, '00280010') ?? 0, columns: num(m, '00280011') ?? 0, bitsAllocated,
    bitsStored: num(m, '00280101') ?? bitsAllocated, signed: num(m, '00280103') === 1,
    samples: num(m, '00280002') ?? 1, planar: num(m, '00280006') ?? 0,
    photometric: str(m, '00280004') ?? 'MONOCHROME2', slope, intercept,
    unit: rescaleType ?? (modality === 'CT' ? 'HU' : null), windows, spacing, spacingKind,
    position: pos && pos.length === 3 ? (pos as [number, number, number]) : null,
    orientation: iop && iop.length === 6 ? (iop as Slice['orientation']) : null,
    thickness: fg(g, '00289110', (x) => num(x, '00180050'), m), modality,
    seriesDescription: str(m, '0008103E'), seriesNumber: num(m, '00200011'), studyDate: str(m, '00080020'),
    frameOfReference: str(m, '00200052'), frameTimeMs: num(m, '00181063'),
  }
}

function pair(v: number[] | null): [number, number] | null {
  return v && v.length >= 2 && v[0] > 0 && v[1] > 0 ? [v[0], v[1]] : null
}

/**
 * PS3.3 10.7.1.1: in projection radiography Pixel Spacing, when present, has been calibrated (its
 * Pixel Spacing Calibration Type (0028,0A02) says how) — unless it merely repeats Imager Pixel Spacing,
 * which is at the detector (C.8.11.4.1.1) and overstates anatomy by the geometric magnification.
 * Imager Pixel Spacing divided by the Estimated Radiographic Magnification Factor (0018,1114) is the
 * best estimate at the patient when nothing else is known.
 */
function spacingOf(m: DicomJson, modality: string, pixel: [number, number] | null): { spacing: [number, number] | null; spacingKind: SpacingKind } {
  const imager = pair(nums(m, '00181164'))
  const projection = PROJECTION.has(modality) || (imager !== null && !m['00200037'])
  if (!projection) return pixel ? { spacing: pixel, spacingKind: 'patient' } : { spacing: null, spacingKind: 'none' }
  const calibrated = str(m, '00280A02') !== null
  const differs = pixel !== null && imager !== null && (Math.abs(pixel[0] - imager[0]) > 1e-6 || Math.abs(pixel[1] - imager[1]) > 1e-6)
  if (pixel && (calibrated || differs)) return { spacing: pixel, spacingKind: 'calibrated' }
  const ermf = num(m, '00181114')
  const base = imager ?? pixel
  if (!base) return { spacing: null, spacingKind: 'none' }
  if (ermf && ermf > 0) return { spacing: [base[0] / ermf, base[1] / ermf], spacingKind: 'magnification' }
  return { spacing: base, spacingKind: 'detector' }
}

export function isGrey(s: Slice): boolean {
  return s.samples === 1 && (s.photometric === 'MONOCHROME1' || s.photometric === 'MONOCHROME2')
}

/** The default window: the file's first VOI window, else one spanning the frame's values. */
export function defaultWindow(s: Slice, range: { min: number; max: number } | null): { center: number; width: number } {
  if (s.windows[0]) return s.windows[0]
  if (range && range.max > range.min) return { center: (range.max + range.min) / 2, width: range.max - range.min }
  return { center: 2 ** (s.bitsStored - 1), width: 2 ** s.bitsStored }
}
