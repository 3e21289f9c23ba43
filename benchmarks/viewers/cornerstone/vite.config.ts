// Built with the PWA's own Vite (pwa/node_modules): `node ../../../pwa/node_modules/vite/bin/vite.js build`.
// Cornerstone's image loader starts its decoder worker with `new URL(..., import.meta.url)` (ES module
// worker) and loads its WASM codecs on demand: both bundled, nothing fetched from elsewhere.
// a plain object: vite resolves from pwa/node_modules, not from this folder

export default {
  base: '/bench-viewers/cornerstone/',
  worker: { format: 'es' },
  build: { target: 'es2022', manifest: true, chunkSizeWarningLimit: 10000 },
  // @cornerstonejs/tools → dcmjs → xmlbuilder2 extends Node's EventEmitter: without the browser
  // port of `events` Vite externalises it and the bundle fails at load ("Class extends value undefined").
  resolve: { alias: { events: 'events/events.js' } },
  optimizeDeps: { exclude: ['@cornerstonejs/dicom-image-loader'] },
}
