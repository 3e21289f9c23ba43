import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { i18n } from './shared/i18n'
import { usePrefs } from './shared/prefs'
import { hooks } from './api/client'
import { useSession } from './auth/session'
import { forget, lostHandler, shareEnded, type Lost } from './shared/accessLost'
import { shareSession } from './doctor/api'
import { ApiError } from './api/errors'
import './shared/base.css'
// Vant's function-style components (toast, dialog) are not in templates: their CSS is imported here.
import 'vant/es/toast/style'
import 'vant/es/dialog/style'

const app = createApp(App)
app.use(createPinia()).use(i18n).use(router)
usePrefs()
// Session expired mid-use: back to the login entry, then return here afterwards.
hooks.unauthorized = (path) => {
  if (path === '/api/v1/me') return // the router guard handles that one
  const current = router.currentRoute.value
  if (current.meta.public) return
  useSession().clear()
  void router.replace({ name: 'login', query: { next: current.fullPath } })
}

// A request for a person's data or a share failed in a way that may mean access ended (issue 19 item 1):
// ask once whether it did (the session's people, or the share session); if so, drop what is held in
// memory and say so — never leave a half-working screen with a raw error.
let checking = false
lostHandler.on = (lost: Lost) => {
  if (checking) return
  checking = true
  void checkLost(lost).finally(() => (checking = false))
}
async function checkLost(lost: Lost): Promise<void> {
  const current = router.currentRoute.value
  if (current.path.startsWith('/doctor')) {
    if (lost.path === '/api/v1/share/session') return void endShare()
    try {
      await shareSession()
    } catch (e) {
      if (e instanceof ApiError && [401, 403, 404, 410].includes(e.status)) endShare()
    }
    return
  }
  if (!lost.personId || current.name === 'access-ended') return
  const session = useSession()
  try {
    await session.refresh()
  } catch {
    return // offline: the page's own error state says so
  }
  if (session.people.some((p) => p.id === lost.personId)) return // still theirs: just a missing object
  forget(lost.personId)
  await router.replace({ name: 'access-ended', params: { pid: lost.personId } })
}
function endShare() {
  forget(null)
  shareEnded.value = true
  if (router.currentRoute.value.name !== 'doctor') void router.replace({ name: 'doctor' })
}

app.mount('#app')

// The service worker only precaches the app shell (vite.config.ts); registered after first paint.
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    import('virtual:pwa-register').then(({ registerSW }) => registerSW({ immediate: false }))
  })
}
