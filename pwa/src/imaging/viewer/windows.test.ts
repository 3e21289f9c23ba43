import { describe, expect, it } from 'vitest'
import { dragWindow, isCustom, linearRemap, numeric, toId } from './windows'

/** PS3.3 C.11.2.1.2 linear VOI function, as the backend renders it: x -> 0..1. */
const voi = (x: number, w: { center: number; width: number }) =>
  Math.min(1, Math.max(0, (x - (w.center - 0.5 - (w.width - 1) / 2)) / (w.width - 1)))

describe('windows', () => {
  it('knows the centre/width of CT presets and custom ids, not of the file\'s own windows', () => {
    expect(numeric('lung')).toEqual({ center: -600, width: 1500 })
    expect(numeric('c40w400')).toEqual({ center: 40, width: 400 })
    expect(numeric('c-600.5w1500')).toEqual({ center: -600.5, width: 1500 })
    for (const id of ['default', 'auto', 'file-1', 'cXw1', 'c40']) expect(numeric(id)).toBeNull()
    expect([isCustom('c40w400'), isCustom('lung')]).toEqual([true, false])
  })

  it('names a custom window the way the server parses it (integers, width at least 1)', () => {
    expect(toId({ center: 39.6, width: 400.4 })).toBe('c40w400')
    expect(toId({ center: -10, width: 0.2 })).toBe('c-10w1')
  })

  it('remaps an image rendered in one window to look like another (linear, within the first window\'s range)', () => {
    const from = { center: 40, width: 400 }
    const to = { center: 100, width: 200 }
    const { slope, intercept } = linearRemap(from, to)
    for (const hu of [-150, -100, 0, 40, 150, 199, 230]) {
      // feComponentTransfer clamps its output to 0..1, as the renderer clips to the window.
      const shown = Math.min(1, Math.max(0, voi(hu, from) * slope + intercept))
      expect(shown).toBeCloseTo(voi(hu, to), 2)
    }
    expect(linearRemap(from, from)).toEqual({ slope: 1, intercept: 0 })
  })

  it('drags: right widens, down raises the level; CT moves 4 HU a pixel, others by the width', () => {
    expect(dragWindow({ center: 40, width: 400 }, 10, -5, 'CT')).toEqual({ center: 20, width: 440 })
    expect(dragWindow({ center: 500, width: 1000 }, 2, 2, 'MR')).toEqual({ center: 510, width: 1010 })
    expect(dragWindow({ center: 0, width: 10 }, -100, 0, 'CT').width).toBe(1)
  })
})
