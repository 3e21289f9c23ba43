// The sharp-preview cache around the current slice: fetch order and concurrency, what is kept and
// what is dropped as the slice moves, aborts of stale requests, the one session renewal on 401.
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { deferred, flush } from '@/test/fakes'
import { PreviewCache } from './previewCache'

const refreshSession = vi.hoisted(() => vi.fn(async () => false))
vi.mock('@/api/client', () => ({ refreshSession }))

interface Call { url: string; signal: AbortSignal; answer: ReturnType<typeof deferred<Response>> }
let calls: Call[]
let bitmaps: { frame: string; close: ReturnType<typeof vi.fn> }[]

beforeEach(() => {
  calls = []
  bitmaps = []
  refreshSession.mockReset().mockResolvedValue(false)
  vi.stubGlobal('fetch', vi.fn((url: string, init: RequestInit) => {
    const answer = deferred<Response>()
    calls.push({ url, signal: init.signal as AbortSignal, answer })
    init.signal?.addEventListener('abort', () => answer.reject(new DOMException('aborted', 'AbortError')))
    return answer.promise
  }))
  const createImageBitmap = vi.fn(async (blob: Blob) => {
    const bitmap = { frame: await blob.text(), close: vi.fn() }
    bitmaps.push(bitmap)
    return bitmap
  })
  vi.stubGlobal('createImageBitmap', createImageBitmap)
  vi.stubGlobal('window', { createImageBitmap })
})

const urlFor = (f: number) => `/p/${f}.jpg`
const frameOf = (url: string) => Number(/\/p\/(\d+)\.jpg/.exec(url)![1])
/** Answers the request for `frame` with an image whose bytes name the frame. */
async function answer(frame: number, status = 200) {
  const call = [...calls].reverse().find((c) => frameOf(c.url) === frame && !c.signal.aborted)!
  call.answer.resolve(new Response(String(frame), { status }))
  await flush()
  await flush()
}

describe('PreviewCache', () => {
  it('fetches the current slice first, then forward before backward, at most `concurrency` at once', async () => {
    const loaded: number[] = []
    const cache = new PreviewCache({ urlFor, onLoaded: (f) => loaded.push(f), prefetch: 2, concurrency: 2 })
    cache.focus(10, 100)
    expect(calls.map((c) => frameOf(c.url))).toEqual([10, 11])
    await answer(10)
    expect(calls.map((c) => frameOf(c.url))).toEqual([10, 11, 9])
    await answer(11)
    await answer(9)
    await answer(12)
    expect(calls.map((c) => frameOf(c.url))).toEqual([10, 11, 9, 12, 8])
    expect(loaded).toEqual([10, 11, 9, 12])
    expect((cache.get(12) as unknown as { frame: string }).frame).toBe('12')
    expect(cache.get(8)).toBeNull() // still on its way
  })

  it('stays within the series', () => {
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 3, concurrency: 10 })
    cache.focus(0, 2)
    expect(calls.map((c) => frameOf(c.url))).toEqual([0, 1])
  })

  it('aborts requests that fell out of the prefetch window and drops images beyond `keep`', async () => {
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 1, keep: 2, concurrency: 3 })
    cache.focus(10, 100)
    await answer(10)
    await answer(11) // 9 is still loading
    expect(cache.size).toBe(2)
    cache.focus(13, 100) // 10 is 3 away (> keep 2): closed; 9 (4 away, > prefetch 1) aborted
    expect(calls.find((c) => frameOf(c.url) === 9)!.signal.aborted).toBe(true)
    expect(bitmaps.find((b) => b.frame === '10')!.close).toHaveBeenCalled()
    expect(bitmaps.find((b) => b.frame === '11')!.close).not.toHaveBeenCalled()
    expect([cache.get(10), cache.size]).toEqual([null, 1])
    await flush()
    expect(calls.slice(3).map((c) => frameOf(c.url))).toEqual([13, 14, 12])
  })

  it('closes an image that arrives after its slice was dropped', async () => {
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 1, keep: 1, concurrency: 1 })
    cache.focus(5, 100)
    const slow = calls[0]
    slow.answer.resolve(new Response('5')) // the answer is in; decoding is still to come
    cache.focus(50, 100) // meanwhile the reader jumped far away
    await flush()
    await flush()
    expect(cache.get(5)).toBeNull()
    expect(bitmaps.find((b) => b.frame === '5')?.close).toHaveBeenCalled()
  })

  it('does not ask again for a preview that failed', async () => {
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 0, concurrency: 1 })
    cache.focus(3, 10)
    await answer(3, 500)
    cache.focus(3, 10)
    expect(calls).toHaveLength(1)
    expect(cache.get(3)).toBeNull()
  })

  it('renews an expired session once and asks again (401)', async () => {
    refreshSession.mockResolvedValue(true)
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 0, concurrency: 1 })
    cache.focus(2, 10)
    await answer(2, 401)
    expect(refreshSession).toHaveBeenCalledTimes(1)
    expect(calls).toHaveLength(2)
    await answer(2)
    expect(cache.get(2)).not.toBeNull()
  })

  it('freeze() stops fetching but keeps what is decoded; clear() lets go of everything', async () => {
    const cache = new PreviewCache({ urlFor, onLoaded: () => {}, prefetch: 1, concurrency: 3 })
    cache.focus(4, 10)
    await answer(4)
    const asked = calls.length
    cache.freeze()
    expect(calls.filter((c) => frameOf(c.url) !== 4).every((c) => c.signal.aborted)).toBe(true)
    await flush()
    expect(calls).toHaveLength(asked) // the aborted requests are not asked again
    expect(cache.get(4)).not.toBeNull()
    cache.clear()
    expect([cache.get(4), cache.size]).toEqual([null, 0])
    expect(bitmaps[0].close).toHaveBeenCalled()
    await flush()
    expect(calls).toHaveLength(asked)
  })

  it('a frame without a URL counts as failed and is not fetched', () => {
    const cache = new PreviewCache({ urlFor: (f) => (f === 1 ? null : urlFor(f)), onLoaded: () => {}, prefetch: 1, concurrency: 3 })
    cache.focus(1, 3)
    expect(calls.map((c) => frameOf(c.url))).toEqual([2, 0])
  })
})
