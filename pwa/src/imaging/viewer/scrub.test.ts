import { describe, expect, it } from 'vitest'
import { fakeImages, flush } from '@/test/fakes'
import { ScrubStrip } from './scrub'
import type { ScrubLayout } from '@/imaging/api'

// 5 frames of 100×80 on cells of 112×80, 2 per sheet row, 4 per sheet: sheets [0..3], [4].
const LAYOUT: ScrubLayout = {
  frame_count: 5,
  tile: { width: 100, height: 80 },
  sheets: [{ width: 224, height: 160, first_frame: 0, count: 4 }, { width: 224, height: 80, first_frame: 4, count: 1 }],
  frames: [[0, 0, 0], [0, 112, 0], [0, 0, 80], [0, 112, 80], [1, 0, 0]],
}
const URLS = ['/s/0.jpg', '/s/1.jpg']

describe('ScrubStrip', () => {
  it('loads the sheet of the starting frame first, then the others', async () => {
    const { loaded } = fakeImages()
    const strip = new ScrubStrip(LAYOUT, URLS)
    let told = 0
    strip.onSheetLoaded = () => told++
    await strip.loadAll(4)
    expect(loaded).toEqual(['/s/1.jpg', '/s/0.jpg'])
    expect(told).toBe(2)
    expect([strip.has(0), strip.has(4)]).toEqual([true, true])
  })

  it('has no tile before its sheet is decoded, then the frame\'s rectangle', async () => {
    fakeImages()
    const strip = new ScrubStrip(LAYOUT, URLS)
    expect(strip.source(3)).toBeNull()
    await strip.load(0)
    expect(strip.source(3)).toMatchObject({ sx: 112, sy: 80, sw: 100, sh: 80 })
    expect(strip.source(4)).toBeNull() // sheet 1 not loaded
    expect(strip.source(99)).toBeNull()
    expect(strip.frameCount).toBe(5)
  })

  it('asks for each sheet once, even when asked again while it loads', async () => {
    const { loaded } = fakeImages()
    const strip = new ScrubStrip(LAYOUT, URLS)
    const [a, b] = [strip.load(1), strip.load(1)]
    expect(await a).toBe(await b)
    await strip.load(1)
    expect(loaded).toEqual(['/s/1.jpg'])
  })

  it('survives a sheet that fails to decode (that part of the series just stays undrawn)', async () => {
    fakeImages((url) => url.endsWith('0.jpg'))
    const strip = new ScrubStrip(LAYOUT, URLS)
    await strip.loadAll(0)
    await flush()
    expect([strip.has(0), strip.has(4)]).toEqual([false, true])
  })

  it('places a frame as a CSS background scaled to the grid cell', () => {
    const strip = new ScrubStrip(LAYOUT, URLS)
    // A 50 px cell shows the 100 px tile at half size: the sheet and the offset halve too.
    expect(strip.backgroundFor(3, 50)).toEqual({
      backgroundImage: 'url("/s/0.jpg")', backgroundSize: '112px 80px', backgroundPosition: '-56px -40px',
    })
    expect(strip.backgroundFor(4, 100).backgroundImage).toBe('url("/s/1.jpg")')
  })
})
