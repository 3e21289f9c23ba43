// Side-by-side compare: which prior series is shown, and its slice kept at the same relative
// position as the current one while the reader scrolls; the window follows the current pane.
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick, ref, shallowRef } from 'vue'
import { fakeImages, flush } from '@/test/fakes'
import type { ScrubAnswer, Series, Study } from '@/imaging/api'

const api = vi.hoisted(() => ({ getScrub: vi.fn(), getStudy: vi.fn(), getPriors: vi.fn() }))
vi.mock('@/imaging/api', async (importOriginal) => ({ ...(await importOriginal<typeof import('@/imaging/api')>()), ...api }))
vi.mock('./draw', () => ({ fitCanvas: () => false, fromDecoded: () => null, drawSlice: () => {} }))

const { useCompare } = await import('./useCompare')

function series(id: string, modality: string, description: string, scrub = true): Series {
  return {
    id, series_instance_uid: id, number: 1, description, modality, body_part: null, instance_count: 1, image_count: 1,
    previews: scrub ? { scrub: `/api/v1/people/p1/series/${id}/scrub?window=default` } : {},
  }
}
function study(id: string, list: Series[]): Study {
  return {
    id, study_instance_uid: id, accession_number: null, occurred_at: '2020-01-01T00:00:00Z', title: 'CT', description: null,
    modalities: ['CT'], body_part: null, referring_physician: null, institution: { id: 'i1', name: null }, series: list, report: null,
    report_history: [], report_pdf_url: null,
  }
}
const scrubOf = (frames: number, window = 'default') => ({
  frame_count: frames, tile: { width: 8, height: 8 }, cell: { width: 16, height: 16 }, columns: 1, sheets: [], frames: [],
  sheet_urls: [], frame_urls: [], widths: ['512'], formats: { jpeg: 'jpg', webp: 'webp' }, window,
}) as unknown as ScrubAnswer

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset())
  fakeImages()
  vi.stubGlobal('requestAnimationFrame', (f: () => void) => setTimeout(f, 0) as unknown as number)
  vi.stubGlobal('cancelAnimationFrame', (id: number) => clearTimeout(id))
  vi.stubGlobal('fetch', vi.fn(() => new Promise(() => {})))
})

function compareOf(current: Series, total: number) {
  const inp = {
    personId: () => 'p1', studyId: () => 'now', current: shallowRef<Series | null>(current), frame: ref(0), total: ref(total),
    win: ref('default'), liveWin: ref(null), zoom: () => 1, pixels: () => 300,
  }
  return { inp, compare: useCompare(inp) }
}

describe('useCompare', () => {
  it('lists the priors, and none when that fails', async () => {
    api.getPriors.mockResolvedValueOnce([{ id: 'old' }]).mockRejectedValueOnce(new Error('offline'))
    const { compare } = compareOf(series('c', 'CT', 'Lung'), 100)
    await compare.loadPriors()
    expect(compare.priors.value).toEqual([{ id: 'old' }])
    await compare.loadPriors()
    expect(compare.priors.value).toEqual([])
  })

  it('picks the prior series most like the current one: modality, then description; never one without images', async () => {
    const { compare } = compareOf(series('c', 'CT', 'Lung 1mm'), 100)
    api.getScrub.mockResolvedValue(scrubOf(50))
    api.getStudy.mockResolvedValue(study('old', [series('sr', 'CT', 'Lung 1mm', false), series('mr', 'MR', 'Lung 1mm'),
      series('ct5', 'CT', 'Soft 5mm'), series('ct1', 'CT', 'Lung 1mm')]))
    await compare.start('old')
    expect(api.getStudy).toHaveBeenCalledWith('p1', 'old')
    expect(api.getScrub.mock.calls[0][0]).toBe('/api/v1/people/p1/series/ct1/scrub?window=default')
    expect(compare.active.value).toBe(true)

    api.getStudy.mockResolvedValue(study('older', [series('mr', 'MR', 'T2'), series('ct5', 'CT', 'Soft 5mm')]))
    await compare.start('older')
    expect(api.getScrub.mock.calls[1][0]).toBe('/api/v1/people/p1/series/ct5/scrub?window=default')
    api.getStudy.mockResolvedValue(study('oldest', [series('us', 'US', 'Liver')]))
    await compare.start('oldest')
    expect(api.getScrub.mock.calls[2][0]).toBe('/api/v1/people/p1/series/us/scrub?window=default')
  })

  it('keeps the prior at the same relative position as the current slice while scrolling', async () => {
    const { inp, compare } = compareOf(series('c', 'CT', 'Lung'), 101) // 101 slices now, 51 then
    api.getStudy.mockResolvedValue(study('old', [series('p', 'CT', 'Lung')]))
    api.getScrub.mockResolvedValue(scrubOf(51))
    inp.frame.value = 50
    await compare.start('old')
    expect([compare.total.value, compare.frame.value]).toEqual([51, 25])
    for (const [now, then] of [[0, 0], [100, 50], [33, 17], [67, 34]]) {
      inp.frame.value = now
      await nextTick()
      expect(compare.frame.value).toBe(then)
    }
  })

  it('stops following once ended', async () => {
    const { inp, compare } = compareOf(series('c', 'CT', 'Lung'), 11)
    api.getStudy.mockResolvedValue(study('old', [series('p', 'CT', 'Lung')]))
    api.getScrub.mockResolvedValue(scrubOf(21))
    await compare.start('old')
    inp.frame.value = 10
    await nextTick()
    expect(compare.frame.value).toBe(20)
    compare.stop()
    expect(compare.active.value).toBe(false)
    inp.frame.value = 0
    await nextTick()
    expect(compare.frame.value).toBe(20)
  })

  it('the prior follows the current pane\'s window (its own strip in a named window)', async () => {
    const { inp, compare } = compareOf(series('c', 'CT', 'Lung'), 11)
    api.getStudy.mockResolvedValue(study('old', [series('p', 'CT', 'Lung')]))
    api.getScrub.mockImplementation(async (_u: string, w: string) => scrubOf(21, w))
    await compare.start('old')
    inp.win.value = 'lung'
    await nextTick()
    await flush()
    expect(api.getScrub).toHaveBeenLastCalledWith('/api/v1/people/p1/series/p/scrub?window=default', 'lung', expect.any(AbortSignal))
  })
})
