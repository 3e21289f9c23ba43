// Load one resource for a page: loading / error / retry, aborted when the page goes away.
import { onBeforeUnmount, ref, shallowRef } from 'vue'

export function useResource<T>(load: (signal: AbortSignal) => Promise<T>) {
  const data = shallowRef<T | null>(null)
  const error = ref<unknown>(null)
  const loading = ref(false)
  let controller: AbortController | null = null

  async function run() {
    controller?.abort()
    controller = new AbortController()
    loading.value = true
    error.value = null
    try {
      data.value = await load(controller.signal)
    } catch (e) {
      if (!(e instanceof DOMException && e.name === 'AbortError')) error.value = e
    } finally {
      loading.value = false
    }
  }
  onBeforeUnmount(() => controller?.abort())
  void run()
  return { data, error, loading, run }
}
