// Sharp previews around the current slice: fetched with priority by distance, decoded off the main
// thread (createImageBitmap), kept only within ±keep slices of the current one (bitmaps closed on
// eviction), so memory stays bounded on a 1,000-slice series. Requests that fall out of the
// prefetch window are aborted, so a fast scroll does not queue hundreds of stale downloads.

import { reportFailure } from '@/shared/accessLost'
import { refreshSession } from '@/api/client'

export type Decoded = ImageBitmap | HTMLImageElement

interface Entry {
  frame: number
  image: Decoded | null
  controller: AbortController | null
  failed: boolean
}

export interface PreviewCacheOptions {
  urlFor: (frame: number) => string | null
  onLoaded: (frame: number) => void
  prefetch?: number // slices each side to fetch ahead
  keep?: number // slices each side to keep decoded
  concurrency?: number
}

export class PreviewCache {
  private entries = new Map<number, Entry>()
  private current = 0
  private inflight = 0
  // Set by freeze()/clear(): the requests they abort end in start()'s `finally`, whose pump() would
  // otherwise ask for the same frames again (in the old window, for a cache kept only to be looked at).
  private stopped = false
  private readonly opts: Required<PreviewCacheOptions>

  constructor(opts: PreviewCacheOptions) {
    this.opts = { prefetch: 4, keep: 10, concurrency: 3, ...opts }
  }

  get(frame: number): Decoded | null {
    return this.entries.get(frame)?.image ?? null
  }

  /** Memory in use, for tests and the bench: decoded images held. */
  get size(): number {
    let n = 0
    for (const e of this.entries.values()) if (e.image) n++
    return n
  }

  /** The current slice moved: drop what is far away, cancel stale requests, fetch the nearest missing. */
  focus(frame: number, total: number): void {
    this.current = frame
    this.stopped = false
    const { keep, prefetch } = this.opts
    for (const [f, e] of this.entries) {
      const d = Math.abs(f - frame)
      if (e.controller && d > prefetch) {
        e.controller.abort()
        this.entries.delete(f)
      } else if (d > keep) {
        close(e.image)
        this.entries.delete(f)
      }
    }
    this.pump(total)
  }

  private pump(total: number): void {
    if (this.stopped) return
    const { prefetch, concurrency } = this.opts
    // Order: current, +1, -1, +2, -2, … (forward first: people mostly scroll on).
    for (let d = 0; d <= prefetch && this.inflight < concurrency; d++) {
      for (const f of d === 0 ? [this.current] : [this.current + d, this.current - d]) {
        if (f < 0 || f >= total || this.entries.has(f) || this.inflight >= concurrency) continue
        this.start(f, total)
      }
    }
  }

  private start(frame: number, total: number): void {
    const url = this.opts.urlFor(frame)
    const entry: Entry = { frame, image: null, controller: null, failed: false }
    this.entries.set(frame, entry)
    if (!url) {
      entry.failed = true
      return
    }
    const controller = new AbortController()
    entry.controller = controller
    this.inflight++
    fetchImage(url, controller.signal)
      .then((res) => {
        if (!res.ok) throw new Error(`preview ${res.status}`)
        return res.blob()
      })
      .then((blob) => decode(blob))
      .then((image) => {
        if (this.entries.get(frame) !== entry) return close(image) // evicted meanwhile
        entry.image = image
        entry.controller = null
        this.opts.onLoaded(frame)
      })
      .catch(() => {
        if (this.entries.get(frame) === entry) {
          entry.failed = true
          entry.controller = null
        }
      })
      .finally(() => {
        this.inflight--
        this.pump(total)
      })
  }

  /** Stop fetching but keep what is decoded (shown until the replacing cache has the frame). */
  freeze(): void {
    this.stopped = true
    for (const [f, e] of this.entries) {
      if (e.controller) {
        e.controller.abort()
        this.entries.delete(f)
      }
    }
  }

  /** Window or series changed: every held image is for the old parameters. */
  clear(): void {
    this.stopped = true
    for (const e of this.entries.values()) {
      e.controller?.abort()
      close(e.image)
    }
    this.entries.clear() // aborted requests decrement `inflight` in their own finally
  }
}

/** A preview request; after a 401 (the 15-minute access cookie ran out) renew the session once. */
async function fetchImage(url: string, signal: AbortSignal): Promise<Response> {
  const res = await fetch(url, { credentials: 'same-origin', signal })
  const answer = res.status === 401 && (await refreshSession()) ? await fetch(url, { credentials: 'same-origin', signal }) : res
  if (!answer.ok) reportFailure(url, answer.status) // access may have ended meanwhile: the app says so
  return answer
}

async function decode(blob: Blob): Promise<Decoded> {
  if ('createImageBitmap' in window) return createImageBitmap(blob)
  const img = new Image()
  img.src = URL.createObjectURL(blob)
  try {
    await img.decode()
  } finally {
    URL.revokeObjectURL(img.src)
  }
  return img
}

function close(image: Decoded | null): void {
  if (image && 'close' in image) image.close()
}
