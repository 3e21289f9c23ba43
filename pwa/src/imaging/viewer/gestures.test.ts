// Pointer gestures on the viewer stage: one finger scrolls slices (or drags the window in W/L mode),
// two fingers pinch and pan, a double tap fits, the wheel scrolls (ctrl+wheel zooms).
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { attachGestures, type GestureHandlers } from './gestures'

/** The stage: 400×600 at (0, 0); events as the browser would dispatch them. */
class Stage extends EventTarget {
  captured: number[] = []
  setPointerCapture(id: number) {
    this.captured.push(id)
  }
  getBoundingClientRect() {
    return { left: 0, top: 0, width: 400, height: 600 }
  }
}
const pointer = (type: string, pointerId: number, clientX: number, clientY: number) =>
  Object.assign(new Event(type), { pointerId, clientX, clientY })

let now = 0
let stage: Stage
let h: GestureHandlers & { log: string[]; t: { scale: number; x: number; y: number } }

function handlers(mode: 'scroll' | 'wl' = 'scroll') {
  const log: string[] = []
  const state = {
    log,
    t: { scale: 1, x: 0, y: 0 },
    mode: () => mode,
    onScrollBy: (n: number) => log.push(`scroll ${n}`),
    onWindowDrag: (dx: number, dy: number, phase: string) => log.push(`wl ${phase} ${dx} ${dy}`),
    onTransform: (t: { scale: number; x: number; y: number }) => {
      state.t = t
      log.push(`zoom ${t.scale.toFixed(2)} ${t.x.toFixed(1)} ${t.y.toFixed(1)}`)
    },
    getTransform: () => state.t,
    onDoubleTap: () => log.push('fit'),
    pxPerSlice: () => 10,
  }
  return state
}

function drag(id: number, from: [number, number], to: [number, number], steps = 4) {
  stage.dispatchEvent(pointer('pointerdown', id, ...from))
  for (let i = 1; i <= steps; i++) {
    stage.dispatchEvent(pointer('pointermove', id, from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps))
  }
  stage.dispatchEvent(pointer('pointerup', id, ...to))
}

beforeEach(() => {
  now = 1000
  vi.spyOn(performance, 'now').mockImplementation(() => now)
  stage = new Stage()
})

describe('attachGestures', () => {
  it('one finger down the screen scrolls one slice per pxPerSlice, without losing the remainder', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    stage.dispatchEvent(pointer('pointerdown', 1, 100, 100))
    for (const y of [104, 108, 112, 125, 151]) stage.dispatchEvent(pointer('pointermove', 1, 100, y))
    stage.dispatchEvent(pointer('pointermove', 1, 100, 95)) // back up past the start
    stage.dispatchEvent(pointer('pointerup', 1, 100, 95))
    // 12 px: 1 slice; 25: 2; 51: 5 (3 more); 95 (-5 px): back to 0 (-5).
    expect(h.log).toEqual(['scroll 1', 'scroll 1', 'scroll 3', 'scroll -5'])
    expect(stage.captured).toEqual([1])
  })

  it('in W/L mode one finger drags the window: start, moves from the start point, end', () => {
    h = handlers('wl')
    attachGestures(stage as unknown as HTMLElement, h)
    drag(1, [100, 100], [140, 80], 2)
    expect(h.log).toEqual(['wl start 0 0', 'wl move 20 -10', 'wl move 40 -20', 'wl end 40 -20'])
  })

  it('two fingers pinch: scale by the spread, keep the point under the fingers, clamp to 1..8', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    // Fingers 100 px apart around (200, 300) — the stage centre — spreading to 200 px: 2×, no pan.
    stage.dispatchEvent(pointer('pointerdown', 1, 200, 250))
    stage.dispatchEvent(pointer('pointerdown', 2, 200, 350))
    stage.dispatchEvent(pointer('pointermove', 1, 200, 200))
    stage.dispatchEvent(pointer('pointermove', 2, 200, 400))
    expect(h.log.at(-1)).toBe('zoom 2.00 0.0 0.0')
    // Both fingers move 30 px right together: pan only.
    stage.dispatchEvent(pointer('pointermove', 1, 230, 200))
    stage.dispatchEvent(pointer('pointermove', 2, 230, 400))
    expect(h.log.at(-1)).toBe('zoom 2.00 30.0 0.0')
    // Pinching far in never goes below 1×; far out never above 8×.
    stage.dispatchEvent(pointer('pointermove', 1, 230, 299))
    stage.dispatchEvent(pointer('pointermove', 2, 230, 301))
    expect(h.t.scale).toBe(1)
    stage.dispatchEvent(pointer('pointermove', 1, 230, -5000))
    stage.dispatchEvent(pointer('pointermove', 2, 230, 5000))
    expect(h.t.scale).toBe(8)
    expect(h.log.some((l) => l.startsWith('scroll'))).toBe(false)
  })

  it('a pinch that zooms off-centre keeps the image point under the fingers there', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    // Around (300, 300): 100 px right of centre. Doubling must move the image 100 px left.
    stage.dispatchEvent(pointer('pointerdown', 1, 300, 250))
    stage.dispatchEvent(pointer('pointerdown', 2, 300, 350))
    stage.dispatchEvent(pointer('pointermove', 1, 300, 200))
    stage.dispatchEvent(pointer('pointermove', 2, 300, 400))
    expect(h.log.at(-1)).toBe('zoom 2.00 -100.0 0.0')
  })

  it('after a pinch, the finger left on the glass does not scroll from a jump', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    stage.dispatchEvent(pointer('pointerdown', 1, 200, 250))
    stage.dispatchEvent(pointer('pointerdown', 2, 200, 350))
    stage.dispatchEvent(pointer('pointermove', 2, 200, 450))
    stage.dispatchEvent(pointer('pointerup', 2, 200, 450))
    stage.dispatchEvent(pointer('pointermove', 1, 200, 400))
    expect(h.log.some((l) => l.startsWith('scroll'))).toBe(false)
  })

  it('two taps within 300 ms fit the image; slower taps or a drag do not', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    const tap = (x = 100, y = 100) => {
      stage.dispatchEvent(pointer('pointerdown', 1, x, y))
      stage.dispatchEvent(pointer('pointerup', 1, x, y))
    }
    tap()
    now += 200
    tap()
    expect(h.log).toEqual(['fit'])
    now += 1000
    tap()
    now += 400
    tap()
    expect(h.log).toEqual(['fit'])
    now += 1000
    tap()
    now += 100
    drag(1, [100, 100], [100, 160])
    expect(h.log.filter((l) => l === 'fit')).toHaveLength(1)
  })

  it('the wheel scrolls one slice a notch; with ctrl (a trackpad pinch) it zooms', () => {
    h = handlers()
    attachGestures(stage as unknown as HTMLElement, h)
    const wheel = (deltaY: number, ctrlKey = false) => {
      const e = Object.assign(new Event('wheel', { cancelable: true }), { deltaY, ctrlKey })
      stage.dispatchEvent(e)
      return e.defaultPrevented
    }
    expect(wheel(120)).toBe(true)
    wheel(-3)
    wheel(-200, true)
    expect(h.log.slice(0, 2)).toEqual(['scroll 1', 'scroll -1'])
    expect(h.t.scale).toBeCloseTo(Math.E, 5)
  })

  it('detaching removes every listener', () => {
    h = handlers()
    const detach = attachGestures(stage as unknown as HTMLElement, h)
    detach()
    drag(1, [100, 100], [100, 200])
    stage.dispatchEvent(Object.assign(new Event('wheel', { cancelable: true }), { deltaY: 100, ctrlKey: false }))
    expect(h.log).toEqual([])
  })
})
