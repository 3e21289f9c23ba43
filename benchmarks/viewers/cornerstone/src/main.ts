// The Cornerstone3D candidate of the doctor-viewer comparison (docs/doctor-viewer.md): the share's
// series through DICOMweb (QIDO-RS instance list, WADO-RS metadata, WADO-RS frames), a StackViewport on the middle slice,
// and the measurement tools (length, circle ROI, probe) driven by the benchmark's mouse.
// ?study=<the study's record id>[&cpu=1]: the same requests as the hand-written workstation makes (the
// share session, the study's detail for its UIDs and main series, then DICOMweb), so that the two
// differ by their code, not by their data path.
type Json = Record<string, { vr: string; Value?: unknown[] }>
const q = new URLSearchParams(location.search)
const studyId = q.get('study')!
const mark = (name: string) => performance.mark(name)
const out: Record<string, unknown> = {}
;(window as unknown as { __bench: unknown }).__bench = out

async function main() {
  mark('start')
  const json = (url: string) => fetch(url, { credentials: 'include', headers: { Accept: 'application/dicom+json, application/json' } }).then((r) => r.json())
  const libs = import('./cs') // in parallel with the data, as a lazy route chunk would be
  const session = await json('/api/v1/share/session')
  const detail = await json(`/api/v1/people/${session.person_id}/studies/${studyId}`)
  type SeriesOut = { series_instance_uid: string; instance_count: number }
  const biggest = [...(detail.series as SeriesOut[])].sort((a, b) => b.instance_count - a.instance_count)[0]
  const base = `/dicomweb/studies/${detail.study_instance_uid}/series/${biggest.series_instance_uid}`
  // The same data path as the hand-written candidate: the instance list (QIDO, from the index) names
  // the middle instance, whose metadata and frame come first; the whole series' metadata follows.
  const listPromise = json(`${base}/instances?limit=1000`) as Promise<Json[]>
  const { core, loader: loaderNs, tools } = await libs
  const loader = (loaderNs as unknown as { default: typeof loaderNs }).default ?? loaderNs
  mark('libs')
  core.init()
  if (q.get('cpu') === '1') core.setUseCPURendering(true)
  loader.init({ maxWebWorkers: 1 })
  tools.init()
  const list = (await listPromise).sort((a, b) => Number(a['00200013']?.Value?.[0] ?? 0) - Number(b['00200013']?.Value?.[0] ?? 0))
  const sopOf = (m: Json) => (m['00080018'].Value as string[])[0]
  const idOf = (sop: string) => `wadors:${location.origin}${base}/instances/${sop}/frames/1`
  const middleSop = sopOf(list[Math.floor(list.length / 2)])
  const [middleMeta] = (await json(`${base}/instances/${middleSop}/metadata`)) as Json[]
  loader.wadors.metaDataManager.add(idOf(middleSop), middleMeta as never)
  const engine = new core.RenderingEngine('bench')
  const element = document.getElementById('vp') as HTMLDivElement
  engine.enableElement({ viewportId: 'vp', type: core.Enums.ViewportType.STACK, element })
  const viewport = engine.getViewport('vp') as InstanceType<typeof core.StackViewport>
  element.addEventListener(core.Enums.Events.IMAGE_RENDERED, () => {
    if (!out.firstImageMs) {
      mark('first-image')
      out.firstImageMs = performance.now()
      out.cpu = core.getShouldUseCPURendering()
    }
  })
  await viewport.setStack([idOf(middleSop)], 0)
  viewport.render()
  // then the whole series (asked for only now, as the hand-written candidate does), ordered by position
  // along the normal (PS3.3 C.7.6.2.1.1)
  const meta = (await json(`${base}/metadata`)) as Json[]
  mark('metadata')
  const z = (m: Json) => {
    const p = (m['00200032']?.Value ?? [0, 0, 0]) as number[]
    const o = (m['00200037']?.Value ?? [1, 0, 0, 0, 1, 0]) as number[]
    const n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
    return p[0] * n[0] + p[1] * n[1] + p[2] * n[2]
  }
  meta.sort((a, b) => z(b) - z(a))
  const imageIds = meta.map((m) => {
    const id = idOf(sopOf(m))
    loader.wadors.metaDataManager.add(id, m as never)
    return id
  })
  const middle = imageIds.indexOf(idOf(middleSop))
  await viewport.setStack(imageIds, middle)
  for (const T of [tools.LengthTool, tools.CircleROITool, tools.ProbeTool]) tools.addTool(T)
  const group = tools.ToolGroupManager.createToolGroup('g')!
  for (const T of [tools.LengthTool, tools.CircleROITool, tools.ProbeTool]) group.addTool(T.toolName)
  group.addViewport('vp', 'bench')
  const setTool = (name: string) => {
    for (const T of [tools.LengthTool, tools.CircleROITool, tools.ProbeTool]) group.setToolPassive(T.toolName)
    group.setToolActive(name, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Primary }] })
  }
  Object.assign(out, {
    ready: true,
    imageIndex: middle,
    setTool,
    /** page (CSS px) of an image pixel centre (column, row) of the displayed slice */
    imageToPage(col: number, row: number) {
      const world = core.utilities.imageToWorldCoords(imageIds[middle], [col, row])
      const [x, y] = viewport.worldToCanvas(world)
      const r = element.getBoundingClientRect()
      return [r.left + x, r.top + y]
    },
    stats() {
      return tools.annotation.state.getAllAnnotations().map((a) => ({
        tool: a.metadata.toolName,
        stats: Object.values((a.data as { cachedStats?: Record<string, unknown> }).cachedStats ?? {})[0],
      }))
    },
  })
}

main().catch((e) => {
  out.error = String(e?.stack ?? e)
})
