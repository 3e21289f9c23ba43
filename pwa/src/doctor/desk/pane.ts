// A viewport's state: which series of which shared study, the slice on screen, window, view, status.
import { markRaw, reactive, type Raw } from 'vue'
import { Stack } from './stack'
import { FRESH, type ViewState } from './view'
import { slicePosition } from './geometry'

export interface StudyRef {
  id: string // the record id (patient routes)
  uid: string // Study Instance UID (DICOMweb)
  title: string
  date: string | null // ISO
}

export interface Pane {
  key: number
  study: StudyRef | null
  seriesUid: string | null
  seriesLabel: string
  stack: Raw<Stack> | null // never made reactive: it holds the frames
  index: number
  win: { center: number; width: number } | null // null: the file's own window
  view: ViewState
  version: number // bumped when something to draw arrived
  status: 'empty' | 'loading' | 'ready' | 'error'
  error: unknown
}

let keys = 0

export function newPane(): Pane {
  return reactive({
    key: ++keys, study: null, seriesUid: null, seriesLabel: '', stack: null, index: 0, win: null,
    view: { ...FRESH }, version: 0, status: 'empty', error: null,
  }) as Pane
}

/** Loads a series into a pane (the previous stack is dropped). */
export async function loadSeries(pane: Pane, study: StudyRef, seriesUid: string, label: string): Promise<void> {
  pane.stack?.dispose()
  const stack = markRaw(new Stack(study.uid, seriesUid))
  Object.assign(pane, { study, seriesUid, seriesLabel: label, stack, index: 0, win: null, view: { ...FRESH }, status: 'loading', error: null })
  stack.onChange = () => {
    if (pane.stack !== stack) return
    if (stack.error && pane.status === 'loading') pane.status = 'error'
    if (pane.status === 'loading' && stack.get(pane.index)) pane.status = 'ready'
    pane.version++
  }
  stack.onReorder = (index) => {
    if (pane.stack === stack) pane.index = index // the series metadata re-ordered the stack: same frame
  }
  try {
    pane.index = await stack.open()
  } catch (e) {
    if (pane.stack === stack) {
      pane.status = 'error'
      pane.error = e
    }
  }
}

export function positionOf(pane: Pane, index = pane.index): number | null {
  const slice = pane.stack?.entries[index]?.slice
  return slice ? slicePosition(slice) : null
}
