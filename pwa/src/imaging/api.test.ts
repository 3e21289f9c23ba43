import { describe, expect, it, vi } from 'vitest'
import { customWindowId, getScrub, getStudy, previewUrl } from './api'

const GET = vi.hoisted(() => vi.fn())
vi.mock('@/api/client', () => ({ api: { GET }, ok: async (call: Promise<{ data: unknown }>) => (await call).data }))

describe('preview URLs', () => {
  const scrub = { frame_urls: ['/api/v1/people/p/previews/i0/0/{window}/{width}.{ext}?v=ab'], widths: ['128', '256', '512', '1024', 'full'], formats: { jpeg: 'jpg', webp: 'webp' } }

  it('fill the server\'s template with the smallest width that is enough', () => {
    expect(previewUrl(scrub, 0, 'lung', 300)).toBe('/api/v1/people/p/previews/i0/0/lung/512.jpg?v=ab')
    expect(previewUrl(scrub, 0, 'default', 128)).toBe('/api/v1/people/p/previews/i0/0/default/128.jpg?v=ab')
    expect(previewUrl(scrub, 0, 'c-600w1500', 5000)).toBe('/api/v1/people/p/previews/i0/0/c-600w1500/1024.jpg?v=ab')
    expect(previewUrl(scrub, 1, 'lung', 300)).toBeNull()
  })

  it('name custom windows as the server parses them', () => {
    expect(customWindowId(-600.4, 1499.6)).toBe('c-600w1500')
  })
})

describe('getScrub', () => {
  it('asks the series\' scrub answer, from its scrub URL, in the wanted window', async () => {
    GET.mockResolvedValue({ data: { frame_count: 1 } })
    await getScrub('/api/v1/people/p%201/series/s1/scrub?window=default', 'lung')
    expect(GET).toHaveBeenCalledWith('/api/v1/people/{person_id}/series/{series_id}/scrub',
      { params: { path: { person_id: 'p 1', series_id: 's1' }, query: { window: 'lung' } }, signal: undefined })
    await expect(getScrub('/somewhere/else', 'lung')).rejects.toThrow('not a scrub URL')
  })
})

describe('getStudy', () => {
  it('links the report PDF when there is a report, and answers again from memory for a minute', async () => {
    GET.mockReset().mockResolvedValue({ data: { id: 's1', report: { id: 'r' }, series: [] } })
    const study = await getStudy('p/1', 's1')
    expect(study.report_pdf_url).toBe('/api/v1/people/p%2F1/studies/s1/report.pdf')
    expect(await getStudy('p/1', 's1')).toBe(study)
    expect(GET).toHaveBeenCalledTimes(1)
    GET.mockResolvedValue({ data: { id: 's2', report: null, series: [] } })
    expect((await getStudy('p/1', 's2')).report_pdf_url).toBeNull()
  })
})
