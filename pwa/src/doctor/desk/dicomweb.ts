// The share's DICOMweb, as the doctor's workstation reads it (PS3.18): QIDO-RS for a series' instances,
// WADO-RS metadata (DICOM JSON, Annex F) and WADO-RS frames (uncompressed little-endian cells,
// §10.4.1.1.2). The share session is the browser's cookie; every request stays on this origin.
// gzip is negotiated by the browser itself (backend/imaging/dicomweb_gzip.py answers it).

import { reportFailure } from '@/shared/accessLost'

export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>

export class DicomwebError extends Error {
  constructor(public status: number, message: string) {
    super(message)
  }
}

const ROOT = '/dicomweb'
const enc = encodeURIComponent

export function seriesPath(study: string, series: string): string {
  return `${ROOT}/studies/${enc(study)}/series/${enc(series)}`
}

async function get(url: string, accept: string, signal?: AbortSignal): Promise<Response> {
  const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: accept }, signal })
  if (!r.ok) {
    reportFailure(url, r.status) // the share may have ended: the doctor is told, not shown a broken pane
    throw new DicomwebError(r.status, `${r.status} ${url}`)
  }
  return r
}

export interface InstanceRef {
  sop: string
  number: number | null
  frames: number
}

/** QIDO-RS: a series' instances from the index (fast: no file is read), in Instance Number order. */
export async function seriesInstances(study: string, series: string, signal?: AbortSignal): Promise<InstanceRef[]> {
  const r = await get(`${seriesPath(study, series)}/instances?limit=1000`, 'application/dicom+json', signal)
  const items = (await r.json()) as DicomJson[]
  return items
    .map((m) => ({ sop: str(m, '00080018') ?? '', number: num(m, '00200013'), frames: num(m, '00280008') ?? 1 }))
    .filter((i) => i.sop)
    .sort((a, b) => (a.number ?? 0) - (b.number ?? 0))
}

/** WADO-RS metadata of every instance of a series (one request; ~30 KB gzipped for a 300-slice CT). */
export async function seriesMetadata(study: string, series: string, signal?: AbortSignal): Promise<DicomJson[]> {
  const r = await get(`${seriesPath(study, series)}/metadata`, 'application/dicom+json', signal)
  return (await r.json()) as DicomJson[]
}

export async function instanceMetadata(study: string, series: string, sop: string, signal?: AbortSignal): Promise<DicomJson> {
  const r = await get(`${seriesPath(study, series)}/instances/${enc(sop)}/metadata`, 'application/dicom+json', signal)
  const items = (await r.json()) as DicomJson[]
  if (!items[0]) throw new DicomwebError(404, 'no metadata')
  return items[0]
}

/** WADO-RS frame (1-based), uncompressed little-endian cells (the first part of the multipart answer). */
export async function frame(study: string, series: string, sop: string, n: number, signal?: AbortSignal): Promise<ArrayBuffer> {
  const url = `${seriesPath(study, series)}/instances/${enc(sop)}/frames/${n}`
  const r = await get(url, 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1', signal)
  const body = new Uint8Array(await r.arrayBuffer())
  const [first] = multipartParts(body, r.headers.get('Content-Type') ?? '')
  if (!first) throw new DicomwebError(502, 'empty multipart answer')
  return first.buffer.slice(first.byteOffset, first.byteOffset + first.byteLength) as ArrayBuffer
}

/** A rendered (windowed JPEG) frame for images whose colours the browser cannot compute itself. */
export function renderedUrl(study: string, series: string, sop: string, n: number): string {
  return `${seriesPath(study, series)}/instances/${enc(sop)}/frames/${n}/rendered?viewport=1024,1024&quality=92`
}

export function thumbnailUrl(study: string, series: string): string {
  return `${seriesPath(study, series)}/thumbnail?viewport=128,128`
}

/** RFC 2046 §5.1.1 multipart body → the parts' bodies (headers dropped). */
export function multipartParts(body: Uint8Array, contentType: string): Uint8Array[] {
  const m = /boundary="?([^";]+)"?/i.exec(contentType)
  if (!m) return [body]
  const delimiter = new TextEncoder().encode(`--${m[1]}`)
  const parts: Uint8Array[] = []
  let at = indexOf(body, delimiter, 0)
  while (at >= 0) {
    let start = at + delimiter.length
    if (body[start] === 45 && body[start + 1] === 45) break // "--": the close delimiter
    const headersEnd = indexOf(body, CRLFCRLF, start)
    if (headersEnd < 0) break
    start = headersEnd + 4
    const next = indexOf(body, delimiter, start)
    if (next < 0) break
    parts.push(body.subarray(start, next - 2)) // the CRLF before the delimiter belongs to it
    at = next
  }
  return parts
}

const CRLFCRLF = new Uint8Array([13, 10, 13, 10])

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]
  outer: for (let i = hay.indexOf(first, from); i >= 0 && i <= hay.length - needle.length; i = hay.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

// -- DICOM JSON accessors (PS3.18 Annex F) ----------------------------------------------------------
export function values(m: DicomJson, tag: string): unknown[] {
  return m[tag]?.Value ?? []
}

export function str(m: DicomJson, tag: string): string | null {
  const v = values(m, tag)[0]
  if (v === undefined || v === null) return null
  if (typeof v === 'object') {
    const pn = v as { Alphabetic?: string; Ideographic?: string }
    return pn.Ideographic ?? pn.Alphabetic ?? null
  }
  return String(v)
}

export function num(m: DicomJson, tag: string): number | null {
  const v = values(m, tag)[0]
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN
  return Number.isFinite(n) ? n : null
}

export function nums(m: DicomJson, tag: string): number[] | null {
  const v = values(m, tag).map((x) => (typeof x === 'number' ? x : Number(x)))
  return v.length && v.every(Number.isFinite) ? v : null
}
