// Side-by-side compare with a prior study: a second image pipeline on its own canvas, the same
// window, and its slice kept at the same relative position in its series as the current one (the
// API gives no slice positions yet; when it does, sync by position instead of by fraction).
import { computed, ref, shallowRef, watch, type Ref } from 'vue'
import { getPriors, getStudy, type Prior, type Series, type Study } from '@/imaging/api'
import { useSlices } from './useSlices'

export function useCompare(inp: {
  personId: () => string
  studyId: () => string
  current: Ref<Series | null>
  frame: Ref<number>
  total: Ref<number>
  win: Ref<string>
  liveWin: Ref<{ center: number; width: number } | null>
  zoom: () => number
  pixels: () => number
}) {
  const priors = shallowRef<Prior[]>([])
  const study = shallowRef<Study | null>(null)
  const canvas = ref<HTMLCanvasElement | null>(null)
  const frame = ref(0)
  const active = computed(() => !!study.value)

  // The prior's series most like the current one: same modality, then same description.
  const series = computed<Series | null>(() => {
    const list = (study.value?.series ?? []).filter((s) => s.previews.scrub)
    const cur = inp.current.value
    const same = list.filter((s) => s.modality === cur?.modality)
    return same.find((s) => s.description === cur?.description) ?? same[0] ?? list[0] ?? null
  })
  const slices = useSlices({ canvas, series, frame, win: inp.win, liveWin: inp.liveWin, zoom: inp.zoom, pixels: inp.pixels })

  function sync() {
    const n = inp.total.value
    const m = slices.total.value
    if (m > 0) frame.value = Math.round((inp.frame.value / Math.max(1, n - 1)) * Math.max(0, m - 1))
  }

  async function loadPriors() {
    priors.value = await getPriors(inp.personId(), inp.studyId()).catch(() => [])
  }

  async function start(priorId: string) {
    study.value = await getStudy(inp.personId(), priorId)
    await slices.load(series.value, null)
    sync()
    slices.frameChanged()
  }

  function stop() {
    slices.dispose()
    study.value = null
  }

  watch(inp.frame, () => {
    if (!active.value) return
    sync()
  })
  watch(frame, () => active.value && slices.frameChanged())
  watch(inp.win, (id) => active.value && void slices.windowChanged(id))

  return { priors, study, canvas, active, frame, total: slices.total, remap: slices.remap, schedule: slices.schedule, refreshPreviews: slices.refreshPreviews, loadPriors, start, stop, dispose: slices.dispose }
}
