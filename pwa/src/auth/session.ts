// Who is signed in, and which person's records are shown. Loaded once per page load from /api/v1/me.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError } from '@/api/errors'
import { readCookie } from '@/api/client'
import { getMe, type Me } from './api'

export const useSession = defineStore('session', () => {
  const me = ref<Me | null>(null)
  const state = ref<'unknown' | 'signed-in' | 'signed-out'>('unknown')
  const error = ref<unknown>(null)
  const selectedPersonId = ref<string | null>(sessionStorage.getItem('yy.person'))
  let inflight: Promise<void> | null = null

  const people = computed(() => me.value?.people ?? [])
  const bound = computed(() => !!me.value?.person)
  const currentPerson = computed(() => {
    const list = people.value
    return list.find((p) => p.id === selectedPersonId.value) ?? list.find((p) => p.id === me.value?.person?.id) ?? list[0] ?? null
  })

  async function refresh(): Promise<void> {
    try {
      me.value = await getMe()
      state.value = 'signed-in'
      error.value = null
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        me.value = null
        state.value = 'signed-out'
        return
      }
      error.value = e
      throw e
    }
  }

  /** Loads /me the first time it is needed; concurrent callers share one request. Without the session's
   * readable cookie (yy_csrf, set and cleared with the session: backend/auth/web.py) there is no session
   * to ask about: signed out at once, no 401 in the console before login (issue 19 item 8). */
  function ensure(): Promise<void> {
    if (state.value !== 'unknown') return Promise.resolve()
    if (!readCookie('yy_csrf')) {
      state.value = 'signed-out'
      return Promise.resolve()
    }
    inflight ??= refresh().finally(() => (inflight = null))
    return inflight
  }

  function selectPerson(id: string) {
    selectedPersonId.value = id
    sessionStorage.setItem('yy.person', id)
  }

  function clear() {
    me.value = null
    state.value = 'signed-out'
    sessionStorage.removeItem('yy.person')
  }

  return { me, state, error, people, bound, currentPerson, refresh, ensure, selectPerson, clear }
})
