// Mocked backend answers in the backend's raw shapes (src/api/schema.d.ts), for the states a demo
// database cannot show on demand (an empty timeline, a failing server). Installed with
// Playwright's page.route; never shipped in the app.

const person = { id: 'p1', relation: 'self', name: '张*', masked_name: '张*', sex: 'M', birth_year: 1962 }
export const ME_BOUND = {
  account: { id: 'acc1', nickname: '微信用户', subscribed: true, created_at: '2026-01-01T00:00:00Z' },
  bound: true, person, people: [person], consent_version: '2026-11',
}

const json = (route, body, status = 200) =>
  route.fulfill({ status, contentType: status >= 400 ? 'application/problem+json' : 'application/json', body: JSON.stringify(body) })

/** opts: { timeline: raw TimelineResponse } or { timelineError: true } */
export async function installMocks(page, opts) {
  await page.route('**/api/v1/**', async (route) => {
    const p = new URL(route.request().url()).pathname
    if (p === '/api/v1/me') return json(route, ME_BOUND)
    if (p.endsWith('/timeline')) {
      return opts.timelineError
        ? json(route, { status: 503, title: 'Service Unavailable', detail: '服务暂时不可用，请稍后再试 (service unavailable).' }, 503)
        : json(route, opts.timeline ?? { items: [], next_cursor: null, counts: { total: 0, by_kind: {}, by_year: {} } })
    }
    return json(route, { status: 404, title: 'Not Found' }, 404)
  })
}
