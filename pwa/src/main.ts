import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { i18n } from './shared/i18n'
import { usePrefs } from './shared/prefs'
import { hooks } from './api/client'
import { useSession } from './auth/session'
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
app.mount('#app')

// The service worker only precaches the app shell (vite.config.ts); registered after first paint.
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    import('virtual:pwa-register').then(({ registerSW }) => registerSW({ immediate: false }))
  })
}
