// Links the API hands out, turned into what the app needs.

const V1 = '/api/v1'

/** "/api/v1/people/p/studies/s" → "/people/p/studies/s": API detail URLs double as app routes. */
export function appRoute(detailUrl: string | null | undefined): string | null {
  if (!detailUrl) return null
  const path = detailUrl.split('?')[0]
  return path.startsWith(V1 + '/people/') ? path.slice(V1.length) : null
}
