// One series' image pipeline: which slice opens, what is drawn while better images arrive
// (placeholder → scrub tile → sharp preview), window changes, and stale answers after a switch.
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { ref, shallowRef } from 'vue'
import { deferred, fakeImages, flush } from '@/test/fakes'
import type { ScrubAnswer, Series } from '@/imaging/api'
import { linearRemap, numeric } from './windows'

const getScrub = vi.hoisted(() => vi.fn())
vi.mock('@/imaging/api', async (importOriginal) => ({ ...(await importOriginal<typeof import('@/imaging/api')>()), getScrub }))
const drawn = vi.hoisted(() => [] as string[])
vi.mock('./draw', () => ({
  fitCanvas: () => false,
  fromDecoded: (img: { name: string }) => ({ img, sx: 0, sy: 0, sw: 1, sh: 1 }),
  drawSlice: (_c: unknown, src: { img: { name?: string; src?: string } } | null) => drawn.push(src ? (src.img.name ?? `img ${src.img.src}`) : 'nothing'),
}))

const { useSlices } = await import('./useSlices')

function series(id: string, frames: number, scrub = true): Series {
  const base = `/api/v1/people/p1/series/${id}`
  return {
    id, series_instance_uid: `1.2.${id}`, number: 1, description: 'CT', modality: 'CT', body_part: null, instance_count: frames, image_count: frames,
    previews: scrub ? { thumbnail: `${base}/thumb`, preview: `${base}/middle.jpg`, preview_webp: `${base}/middle.webp`, scrub: `${base}/scrub?window=default` } : {},
  }
}

function scrubAnswer(frames: number, window = 'default'): ScrubAnswer {
  return {
    version: 1, format: 'jpeg', frame_count: frames, tile: { width: 64, height: 64 }, cell: { width: 64, height: 64 }, columns: 4,
    sheets: [{ width: 256, height: 256, first_frame: 0, count: frames }], frames: Array.from({ length: frames }, (_, i) => [0, (i % 4) * 64, Math.floor(i / 4) * 64]),
    failed_frames: [], total_bytes: 1000, key: `k-${window}`, window, sheet_urls: [`/sheet-${window}.jpg`], widths: ['128', '256', '512', '1024', 'full'],
    formats: { jpeg: 'jpg', webp: 'webp' }, windows: [{ id: 'default', name_zh: '默认', name_en: 'Default' }],
    frame_urls: Array.from({ length: frames }, (_, i) => `/api/v1/people/p1/previews/i${i}/0/{window}/{width}.{ext}?v=1`),
  }
}

let fetched: string[]
beforeEach(() => {
  drawn.length = 0
  fetched = []
  getScrub.mockReset()
  fakeImages()
  vi.stubGlobal('requestAnimationFrame', (f: () => void) => setTimeout(f, 0) as unknown as number)
  vi.stubGlobal('cancelAnimationFrame', (id: number) => clearTimeout(id))
  // Sharp previews: answered at once with a "bitmap" named after its URL.
  vi.stubGlobal('fetch', vi.fn(async (url: string) => {
    fetched.push(url)
    return new Response(url)
  }))
  const createImageBitmap = async (blob: Blob) => ({ name: `sharp ${await blob.text()}`, close() {} })
  vi.stubGlobal('createImageBitmap', createImageBitmap)
  vi.stubGlobal('window', { createImageBitmap })
})

function pipeline(s: Series | null) {
  const inp = {
    canvas: ref({} as HTMLCanvasElement), series: shallowRef(s), frame: ref(0), win: ref('default'),
    liveWin: ref<{ center: number; width: number } | null>(null), pixels: () => 300, zoom: () => 1,
  }
  return { inp, slices: useSlices(inp) }
}

describe('useSlices', () => {
  it('opens the middle slice, and draws placeholder, then tile, then the sharp preview', async () => {
    const answer = deferred<ScrubAnswer>()
    getScrub.mockReturnValue(answer.promise)
    const previews = new Map<string, () => void>()
    vi.stubGlobal('fetch', vi.fn((url: string) => new Promise<Response>((res) => previews.set(url, () => res(new Response(url))))))
    const s = series('s1', 9)
    const { inp, slices } = pipeline(s)
    const loading = slices.load(s, null)
    expect(inp.frame.value).toBe(4) // instance count 9 → middle until the layout says more
    await flush()
    await flush()
    expect(drawn).toEqual(['img /api/v1/people/p1/series/s1/middle.jpg']) // the middle-frame placeholder
    expect(getScrub).toHaveBeenCalledWith('/api/v1/people/p1/series/s1/scrub?window=default', 'default', expect.any(AbortSignal))
    answer.resolve(scrubAnswer(21)) // a multi-frame series: more frames than instances
    await loading
    expect([inp.frame.value, slices.total.value]).toEqual([10, 21])
    await flush()
    await flush()
    expect(drawn.at(-1)).toBe('img /sheet-default.jpg') // the scrub tile, while the preview loads
    // The sharp preview of frame 10 was asked first: the smallest width ≥ 300 px, JPEG, default window.
    const [first] = previews.keys()
    expect(first).toBe('/api/v1/people/p1/previews/i10/0/default/512.jpg?v=1')
    previews.get(first)!()
    await flush()
    await flush()
    expect(drawn.at(-1)).toBe(`sharp ${first}`)
  })

  it('opens the asked slice, within the series', async () => {
    getScrub.mockResolvedValue(scrubAnswer(5))
    const s = series('s1', 5)
    const { inp, slices } = pipeline(s)
    await slices.load(s, 12)
    expect(inp.frame.value).toBe(4)
  })

  it('a series without images asks for nothing', async () => {
    const s = series('sr', 1, false)
    const { slices } = pipeline(s)
    await slices.load(s, null)
    expect(getScrub).not.toHaveBeenCalled()
    expect(slices.total.value).toBe(1)
  })

  it('shows an error when the scrub answer fails, but not for a series switched away from', async () => {
    const first = deferred<ScrubAnswer>()
    getScrub.mockReturnValueOnce(first.promise).mockRejectedValueOnce(new Error('502'))
    const a = series('a', 3)
    const b = series('b', 3)
    const { inp, slices } = pipeline(a)
    const loadingA = slices.load(a, null)
    inp.series.value = b
    await slices.load(b, null)
    expect(slices.scrubError.value).toBeInstanceOf(Error)
    first.resolve(scrubAnswer(3)) // a's late answer: dropped
    await loadingA
    expect(slices.scrub.value).toBeNull()
  })

  it('a named window gets its own strip; a custom one relies on previews (no strip asked)', async () => {
    getScrub.mockImplementation(async (_url: string, w: string) => scrubAnswer(4, w))
    const s = series('s1', 4)
    const { inp, slices } = pipeline(s)
    await slices.load(s, null)
    inp.win.value = 'lung'
    await slices.windowChanged('lung')
    expect(getScrub).toHaveBeenLastCalledWith(s.previews.scrub, 'lung', expect.any(AbortSignal))
    expect(slices.stripWindow.value).toBe('lung')
    inp.win.value = 'c40w400'
    await slices.windowChanged('c40w400')
    expect(getScrub).toHaveBeenCalledTimes(2)
    expect(slices.stripWindow.value).toBe('lung')
    await flush()
    await flush()
    expect(fetched.find((u) => u.includes('/c40w400/'))).toBe('/api/v1/people/p1/previews/i2/0/c40w400/512.jpg?v=1')
  })

  it('while the new window\'s preview is on its way, the old one is shown remapped to the new window', async () => {
    getScrub.mockImplementation(async (_url: string, w: string) => scrubAnswer(4, w))
    const s = series('s1', 4)
    const { inp, slices } = pipeline(s)
    inp.win.value = 'lung'
    await slices.load(s, null)
    await slices.windowChanged('lung')
    await flush()
    await flush()
    expect(drawn.at(-1)).toMatch(/^sharp .*\/lung\//)
    const waiting = new Map<string, () => void>()
    vi.stubGlobal('fetch', vi.fn((url: string) => new Promise<Response>((res) => waiting.set(url, () => res(new Response(url))))))
    inp.win.value = 'mediastinum'
    slices.refreshPreviews()
    await flush()
    expect(drawn.at(-1)).toMatch(/^sharp .*\/lung\//) // the frozen lung preview, not a tile
    expect(slices.remap.value).toEqual(linearRemap(numeric('lung')!, numeric('mediastinum')!))
    waiting.get('/api/v1/people/p1/previews/i2/0/mediastinum/512.jpg?v=1')!() // the current slice's
    await flush()
    await flush()
    expect(slices.remap.value).toBeNull()
  })
})
