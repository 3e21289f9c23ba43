// The viewer's image pipeline for one series: the scrub answer (layout, sheet URLs, preview URL
// templates, windows), the strip drawn while scrolling, the sharp-preview cache around the current
// slice, and drawing onto the canvas. The view owns gestures and controls; this owns pixels.
import { computed, ref, shallowRef, type Ref } from 'vue'
import { getScrub, previewUrl, type ScrubAnswer, type Series } from '@/imaging/api'
import { ScrubStrip } from './scrub'
import { PreviewCache } from './previewCache'
import { drawSlice, fitCanvas, fromDecoded, type Source } from './draw'
import { DEFAULT_WINDOW, isCustom, linearRemap, numeric } from './windows'

export interface SliceInputs {
  canvas: Ref<HTMLCanvasElement | null>
  series: Ref<Series | null>
  frame: Ref<number>
  win: Ref<string>
  liveWin: Ref<{ center: number; width: number } | null>
  /** device pixels the preview should have (grows when zoomed in) */
  pixels: () => number
  /** the CSS zoom of the canvas, coarsely (1 or 2.5): the backing store follows it */
  zoom: () => number
}

export function useSlices(inp: SliceInputs) {
  const scrub = shallowRef<ScrubAnswer | null>(null) // default window: frame URL templates, window list
  const strip = shallowRef<ScrubStrip | null>(null) // the sheets drawn while scrolling (in stripWindow)
  const stripWindow = ref(DEFAULT_WINDOW)
  const scrubError = ref<unknown>(null)
  const placeholder = shallowRef<HTMLImageElement | null>(null) // the series' middle-frame preview, shown first
  const drawnWin = ref<string | null>(null) // the window of what is on the canvas now
  const total = computed(() => scrub.value?.frame_count ?? inp.series.value?.image_count ?? 0)
  let cache: PreviewCache | null = null
  let cacheWindow = DEFAULT_WINDOW
  // The previous cache (other window or size), frozen: its image of the current slice is a better
  // stand-in than a scrub tile until the new preview arrives. At most one is kept (bounded memory).
  let stale: { cache: PreviewCache; window: string } | null = null
  let raf = 0
  let loads: AbortController | null = null

  function schedule() {
    if (!raf) raf = requestAnimationFrame(render)
  }

  function render() {
    raf = 0
    const c = inp.canvas.value
    if (!c) return
    fitCanvas(c, inp.zoom())
    const f = inp.frame.value
    const sharp = cache?.get(f)
    const older = sharp ? null : stale?.cache.get(f)
    const tile = strip.value?.source(f)
    let src: Source | null = null
    let aspect = 1
    if (sharp) {
      src = fromDecoded(sharp)
      drawnWin.value = inp.win.value
    } else if (older && stale) {
      src = fromDecoded(older)
      drawnWin.value = stale.window
    } else if (tile && strip.value) {
      src = tile
      drawnWin.value = stripWindow.value
    } else if (placeholder.value && !scrub.value) {
      src = fromDecoded(placeholder.value)
      drawnWin.value = DEFAULT_WINDOW
    }
    if (src) aspect = src.sw / src.sh
    drawSlice(c, src, aspect)
  }

  // What is drawn may be in another window than the one asked for (a tile, an older preview, a
  // W/L drag in progress): remap it with an SVG linear transfer until the right preview arrives.
  const remap = computed(() => {
    const target = inp.liveWin.value ?? numeric(inp.win.value)
    const from = drawnWin.value ? numeric(drawnWin.value) : null
    if (!target || !from || (from.center === target.center && from.width === target.width)) return null
    return linearRemap(from, target)
  })

  /** New preview cache for the current window and size (window change, zoom, series loaded). */
  function refreshPreviews() {
    stale?.cache.clear()
    stale = null
    if (cache) {
      cache.freeze()
      stale = { cache, window: cacheWindow }
    }
    cache = null
    const answer = scrub.value
    if (!answer) return
    const id = inp.win.value
    cacheWindow = id
    cache = new PreviewCache({
      urlFor: (f) => previewUrl(answer, f, id, inp.pixels()),
      onLoaded: (f) => f === inp.frame.value && schedule(),
    })
    cache.focus(inp.frame.value, total.value)
    schedule()
  }

  function useStrip(answer: ScrubAnswer, id: string) {
    const st = new ScrubStrip(answer, answer.sheet_urls)
    st.onSheetLoaded = schedule
    strip.value = st
    stripWindow.value = id
    void st.loadAll(inp.frame.value)
  }

  function reset() {
    loads?.abort()
    cache?.clear()
    stale?.cache.clear()
    cache = null
    stale = null
    scrub.value = null
    strip.value = null
    scrubError.value = null
    placeholder.value = null
  }

  /** Loads a series; `asked` is the frame from the URL, else the middle slice is shown first. */
  async function load(s: Series | null, asked: number | null) {
    reset()
    loads = new AbortController()
    const signal = loads.signal
    inp.frame.value = asked ?? Math.floor((s?.image_count ?? 1) / 2)
    const scrubUrl = s?.previews.scrub
    if (!s || !scrubUrl) return
    void loadPlaceholder(s)
    try {
      const answer = await getScrub(scrubUrl, DEFAULT_WINDOW, signal)
      if (signal.aborted) return
      scrub.value = answer
      inp.frame.value = Math.min(answer.frame_count - 1, asked ?? Math.floor(answer.frame_count / 2))
      useStrip(answer, DEFAULT_WINDOW)
      refreshPreviews()
    } catch (e) {
      if (!signal.aborted) scrubError.value = e
    }
  }

  // The middle frame's preview URL is in the study answer: show it while the strip is made.
  async function loadPlaceholder(s: Series) {
    if (!s.previews.preview) return
    const img = new Image()
    img.src = s.previews.preview
    try {
      await img.decode()
      if (inp.series.value === s && !scrub.value) {
        placeholder.value = img
        schedule()
      }
    } catch {
      /* no placeholder: the strip will do */
    }
  }

  /**
   * The window changed: new previews at once; a named window also gets its own scrub strip
   * (rendered by the server once, then cached) so scrolling shows it too. Custom windows rely
   * on previews and the remap filter.
   */
  async function windowChanged(id: string) {
    refreshPreviews()
    const s = inp.series.value
    const scrubUrl = s?.previews.scrub
    if (isCustom(id) || !scrubUrl || id === stripWindow.value) return
    try {
      const answer = await getScrub(scrubUrl, id, loads?.signal)
      if (inp.win.value === id && inp.series.value === s) useStrip(answer, id)
    } catch {
      /* keep the current strip */
    }
  }

  function frameChanged() {
    cache?.focus(inp.frame.value, total.value)
    schedule()
  }

  function dispose() {
    reset()
    cancelAnimationFrame(raf)
  }

  return { scrub, strip, stripWindow, scrubError, total, remap, schedule, load, refreshPreviews, windowChanged, frameChanged, dispose }
}
