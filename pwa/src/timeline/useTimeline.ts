// Cursor-paginated timeline state: filters, pages, refresh; stale answers (after a filter change) are dropped.
import { computed, ref, shallowRef } from 'vue'
import { getTimeline, type Counts, type TimelineItem } from './api'
import { yearOf } from '@/shared/format'

export function useTimeline(personId: () => string | null) {
  const items = shallowRef<TimelineItem[]>([])
  const counts = ref<Counts | null>({})
  const cursor = ref<string | null>(null)
  const finished = ref(false)
  const loading = ref(false)
  const error = ref<unknown>(null)
  const kind = ref<string | null>(null)
  const institution = ref<string | null>(null)
  let generation = 0
  let controller: AbortController | null = null
  let pending: Promise<void> | null = null

  /** Loads the next page; a second caller while one is in flight waits for the same request. */
  function loadMore(): Promise<void> {
    if (pending) return pending
    const p: Promise<void> = fetchPage().finally(() => {
      if (pending === p) pending = null
    })
    pending = p
    return p
  }

  async function fetchPage(): Promise<void> {
    const pid = personId()
    if (!pid) {
      finished.value = true // nothing to page through; the view explains why
      return
    }
    if (finished.value) return
    const gen = generation
    loading.value = true
    error.value = null
    controller = new AbortController()
    try {
      const page = await getTimeline(pid, { kind: kind.value, institution: institution.value, cursor: cursor.value }, controller.signal)
      if (gen !== generation) return
      items.value = [...items.value, ...page.items]
      if (!cursor.value) counts.value = page.counts ?? {}
      cursor.value = page.next_cursor
      finished.value = !page.next_cursor
    } catch (e) {
      if (gen !== generation || (e instanceof DOMException && e.name === 'AbortError')) return
      error.value = e
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  function reset(): Promise<void> {
    generation += 1
    controller?.abort()
    pending = null
    items.value = []
    cursor.value = null
    finished.value = false
    loading.value = false
    return loadMore()
  }

  const visible = computed(() => (institution.value ? items.value.filter((i) => i.institution?.id === institution.value) : items.value))

  const groups = computed(() => {
    const out: { year: string; items: TimelineItem[] }[] = []
    for (const item of visible.value) {
      const y = yearOf(item.occurred_at)
      if (out.length === 0 || out[out.length - 1].year !== y) out.push({ year: y, items: [] })
      out[out.length - 1].items.push(item)
    }
    return out
  })

  // Hospitals seen so far (kept across filter changes, so the picker does not shrink to the filter's result).
  const known = new Map<string, string>()
  const institutions = computed(() => {
    for (const i of items.value) if (i.institution) known.set(i.institution.id, i.institution.name ?? i.institution.id)
    return [...known].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name, 'zh-CN'))
  })

  return { items, visible, groups, counts, finished, loading, error, kind, institution, institutions, loadMore, reset }
}
