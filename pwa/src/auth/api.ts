// Who is signed in (GET /api/v1/me), signing in (the WeChat login redirect) and out.
import { api, ok, serializeQuery } from '@/api/client'
import type { components } from '@/api/schema'

export type Me = components['schemas']['MeOut']
/** A person the account may act for: itself (relation "self") or through a family grant; name masked. */
export type PersonRef = components['schemas']['PersonRef']

export function getMe(signal?: AbortSignal): Promise<Me> {
  return ok(api.GET('/api/v1/me', { signal }))
}

/** Ends this browser session at once (the server clears the cookies). */
export async function logout(): Promise<void> {
  await ok(api.POST('/auth/logout'))
}

/** The backend's WeChat login entry (a redirect, not an API call): back to `next` afterwards. */
export function wechatLoginUrl(next: string): string {
  return `/auth/wechat/start?${serializeQuery({ next })}`
}
