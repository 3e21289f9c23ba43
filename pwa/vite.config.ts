import { fileURLToPath, URL } from 'node:url'
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { VantResolver } from '@vant/auto-import-resolver'
import { VitePWA } from 'vite-plugin-pwa'

// Paths whose answers carry health data (or are per-session): the service worker must never
// cache them (DESIGN.md rule 5) — the navigation fallback must not swallow them either.
const NEVER_CACHE = [/^\/api\//, /^\/dicomweb\//, /^\/auth\//, /^\/s\//, /^\/v\//, /^\/_sim\//, /^\/wechat\//,
  /^\/openapi\.json/, /^\/healthz/, /^\/docs/]

// Vant's icon font falls back to a CDN copy (at.alicdn.com): the app must load nothing from third
// parties (CSP font-src 'self' data:, and privacy), so keep only the embedded woff2.
const noCdnFont: Plugin = {
  name: 'yunying-no-cdn-font',
  enforce: 'pre',
  transform(code, id) {
    if (!id.includes('vant/es/icon/index.css')) return null
    return code.replace(/,\s*url\(\/\/at\.alicdn\.com[^)]*\)\s*format\("woff"\)/g, '')
  },
}

export default defineConfig({
  define: { __APP_VERSION__: JSON.stringify(process.env.npm_package_version ?? '0.0.0') },
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  plugins: [
    noCdnFont,
    vue(),
    // Vant components imported on demand: only what templates use ends up in the bundle.
    Components({ resolvers: [VantResolver()], dts: 'components.d.ts' }),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false, // registered from src/main.ts, after the first paint
      manifest: {
        name: '云影',
        short_name: '云影',
        description: '我的影像与检查记录 · My imaging records',
        lang: 'zh-CN',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#ffffff',
        theme_color: '#0b5cad',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // App shell only: the built JS/CSS/HTML and the icons. No runtimeCaching at all, so every
        // /api/, /dicomweb/ and preview request goes to the network and is never stored.
        globPatterns: ['**/*.{js,css,html,svg,png,woff2}'],
        // The doctor's workstation is for desk PCs opening a share link: never pre-cached on patients' phones.
        globIgnores: ['**/DoctorDesk-*'],
        runtimeCaching: [],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: NEVER_CACHE,
        cleanupOutdatedCaches: true,
      },
    }),
  ],
  build: {
    target: 'es2020',
    manifest: true, // read by scripts/bundle-size.mjs (first-load JS per route)
    chunkSizeWarningLimit: 400,
    rolldownOptions: {
      output: {
        // The framework every page needs in one chunk of its own, so that adding or changing a lazy
        // route never reshuffles what the first load fetches (measured: ±1 KB gzip otherwise).
        codeSplitting: {
          groups: [{ name: 'framework', test: /node_modules[\\/](vue|@vue|vue-router|vue-i18n|@intlify|pinia)[\\/]/ }],
        },
      },
    },
  },
  server: {
    proxy: Object.fromEntries(
      ['/api', '/auth', '/dicomweb', '/_sim', '/s/', '/v/', '/openapi.json'].map((p) => [p, 'http://127.0.0.1:8000']),
    ),
  },
})
