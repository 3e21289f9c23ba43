// Mock answers in the shapes of src/api/types-manual.ts, for screenshots while the backend's
// endpoints are being built. Installed with Playwright's page.route (never shipped in the app).
import { readFile } from 'node:fs/promises'

export const ME_BOUND = {
  account: { id: 'acc1', nickname: '微信用户' },
  person: { id: 'p1', name_masked: '张*' },
  people: [{ id: 'p1', relation: 'self', name_masked: '张*' }],
}
export const ME_UNBOUND = { account: { id: 'acc2', nickname: '新用户' }, person: null, people: [] }

export const TIMELINE = {
  items: [
    { id: 's1', kind: 'imaging_study', occurred_at: '2026-10-12', title: '胸部 CT 平扫', modality: 'CT', summary: '双肺散在小结节，最大约 4 mm，建议 12 个月复查。', institution: '南京市第一医院', detail_url: null },
    { id: 'l1', kind: 'lab_result', occurred_at: '2026-09-03', title: '血脂四项', summary: '总胆固醇 6.2 mmol/L', institution: '江苏省人民医院', detail_url: null, flags: { abnormal: 2 } },
    { id: 'c1', kind: 'checkup', occurred_at: '2026-03-20', title: '年度体检', summary: '血压偏高，建议心内科随访。', institution: '南京鼓楼医院体检中心', detail_url: null },
    { id: 's2', kind: 'imaging_study', occurred_at: '2025-11-02', title: '头颅 MRI', modality: 'MR', summary: '未见明显异常。', institution: '南京鼓楼医院', detail_url: null },
    { id: 's3', kind: 'imaging_study', occurred_at: '2019-06-18', title: '胸部正位 X 线', modality: 'DX', summary: '心肺膈未见异常。', institution: '南京市第一医院', detail_url: null },
  ],
  next_cursor: null,
  counts: { by_kind: { imaging_study: 3, lab_result: 1, checkup: 1 }, by_year: { 2026: 3, 2025: 1, 2019: 1 } },
}

export function study(frames) {
  const series = (id, n, desc, f) => ({
    id, number: n, description: desc, modality: 'CT', frames: f, thumbnail_url: '/__fixture/previews/auto/40.jpg',
    positions: Array.from({ length: f }, (_, i) => -120 + i * 2.5),
    scrub: { sheets: ['/__fixture/sheet-0.jpg'], layout_url: '/__fixture/layout.json' },
    previews: { url_template: '/__fixture/previews/{window}/{frame}.jpg?width={width}' },
  })
  return {
    id: 's1', description: '胸部 CT 平扫', modality: 'CT', body_part: '胸部', study_date: '2026-10-12', institution: '南京市第一医院',
    report: {
      status: 'final',
      findings: '胸廓对称，气管居中。双肺纹理清晰，右肺上叶及左肺下叶可见数枚小结节，最大约 4 mm，边界清楚。\n纵隔内未见肿大淋巴结。心影大小正常。双侧胸腔未见积液。',
      impression: '1. 双肺散在小结节，考虑良性可能大，建议 12 个月后复查。\n2. 余胸部 CT 平扫未见明显异常。',
    },
    series: [series('se1', 2, '肺窗 1.25mm', frames), series('se2', 3, '纵隔窗 5mm', frames)],
    report_pdf_url: '/api/v1/people/p1/studies/s1/report.pdf',
    priors: [{ id: 's0', study_date: '2024-09-30', description: '胸部 CT 平扫' }],
  }
}

export const LAB = {
  id: 'l1', title: '血脂四项', collected_at: '2026-09-03', institution: '江苏省人民医院',
  items: [
    { code: 'TC', name: '总胆固醇', value: 6.2, unit: 'mmol/L', ref_low: 2.8, ref_high: 5.2, flag: 'H',
      history: [{ at: '2022-08-01', value: 5.1 }, { at: '2023-09-10', value: 5.6 }, { at: '2024-09-12', value: 5.9 }, { at: '2026-09-03', value: 6.2 }] },
    { code: 'TG', name: '甘油三酯', value: 1.4, unit: 'mmol/L', ref_low: 0.45, ref_high: 1.7, flag: 'N',
      history: [{ at: '2023-09-10', value: 1.9 }, { at: '2024-09-12', value: 1.5 }, { at: '2026-09-03', value: 1.4 }] },
    { code: 'HDL', name: '高密度脂蛋白胆固醇', value: 0.9, unit: 'mmol/L', ref_low: 1.0, ref_high: null, flag: 'L', history: [] },
    { code: 'LDL', name: '低密度脂蛋白胆固醇', value: 3.1, unit: 'mmol/L', ref_low: null, ref_high: 3.4, flag: 'N' },
  ],
}

export const CHECKUP = {
  id: 'c1', title: '年度体检', performed_at: '2026-03-20', institution: '南京鼓楼医院体检中心',
  conclusion: '1. 血压偏高（148/92 mmHg），建议心内科随访。\n2. 轻度脂肪肝。',
  sections: [
    { title: '一般检查', items: [{ name: '身高', value: '172', unit: 'cm' }, { name: '体重', value: '78', unit: 'kg' }, { name: '血压', value: '148/92', unit: 'mmHg', flag: 'H', ref_text: '<140/90' }] },
  ],
}

const json = (route, body, status = 200) =>
  route.fulfill({ status, contentType: status >= 400 ? 'application/problem+json' : 'application/json', body: JSON.stringify(body) })

/** opts: { me: object|null (null → 401), timeline, fixtureDir } */
export async function installMocks(page, opts) {
  await page.route('**/api/v1/**', async (route) => {
    const url = new URL(route.request().url())
    const p = url.pathname
    const method = route.request().method()
    if (p === '/api/v1/me') return opts.me ? json(route, opts.me) : json(route, { status: 401, title: 'Unauthorized', detail: '请先登录', code: 'not-signed-in' }, 401)
    if (p === '/api/v1/me/binding/otp' && method === 'POST') return json(route, { phone_masked: '138****8000', resend_after: 60 })
    if (p === '/api/v1/me/binding' && method === 'POST') return json(route, ME_BOUND)
    if (p.endsWith('/timeline')) return opts.timelineError ? json(route, { status: 503, title: 'Service Unavailable', detail: '服务暂时不可用' }, 503) : json(route, opts.timeline ?? TIMELINE)
    if (/\/studies\/[^/]+$/.test(p)) return json(route, study(opts.frames ?? 120))
    if (/\/labs\//.test(p)) return json(route, LAB)
    if (/\/checkups\//.test(p)) return json(route, CHECKUP)
    return json(route, { status: 404, title: 'Not Found' }, 404)
  })
  if (opts.fixtureDir) {
    await page.route('**/__fixture/**', async (route) => {
      const rel = new URL(route.request().url()).pathname.replace('/__fixture/', '')
      try {
        const body = await readFile(`${opts.fixtureDir}/${rel}`)
        const type = rel.endsWith('.json') ? 'application/json' : 'image/jpeg'
        await route.fulfill({ status: 200, contentType: type, body })
      } catch {
        await route.fulfill({ status: 404 })
      }
    })
  }
}
