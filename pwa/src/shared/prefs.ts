// Device preferences (language, large text): kept in localStorage, they hold no health data.
import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { Locale as VantLocale } from 'vant'
import enUS from 'vant/es/locale/lang/en-US'
import zhCN from 'vant/es/locale/lang/zh-CN'
import { i18n, type Locale } from './i18n'

const KEY = 'yy.prefs'

function load(): { locale?: Locale; largeText?: boolean } {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}')
  } catch {
    return {}
  }
}

function defaultLocale(): Locale {
  // Chinese first (DESIGN.md): English only when the phone itself is set to a non-Chinese language.
  const nav = (navigator.language || 'zh-CN').toLowerCase()
  return nav.startsWith('zh') || !nav ? 'zh-CN' : 'en'
}

export const usePrefs = defineStore('prefs', () => {
  const saved = load()
  const locale = ref<Locale>(saved.locale ?? defaultLocale())
  const largeText = ref<boolean>(saved.largeText ?? false)

  function apply() {
    i18n.global.locale.value = locale.value
    VantLocale.use(locale.value === 'en' ? 'en-US' : 'zh-CN', locale.value === 'en' ? enUS : zhCN)
    document.documentElement.lang = locale.value
    document.documentElement.classList.toggle('large-text', largeText.value)
  }

  watch([locale, largeText], () => {
    localStorage.setItem(KEY, JSON.stringify({ locale: locale.value, largeText: largeText.value }))
    apply()
  })
  apply()
  return { locale, largeText, apply }
})
