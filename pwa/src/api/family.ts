// Family access, access history and the WeChat JS-SDK signature: every call of these screens, with
// the raw answers (schema.d.ts) mapped onto small app shapes — adapt backend changes here.
import { request } from '@/shared/http'
import type { components } from './schema'

type S = components['schemas']
const V1 = '/api/v1'
const enc = encodeURIComponent

/** all = every record; imaging = studies and their reports only; kinds = the listed record kinds */
export type Scope = 'all' | 'imaging' | 'kinds'
export const RELATIONSHIPS = ['spouse', 'parent', 'child', 'sibling', 'grandparent', 'grandchild', 'other'] as const
export const GUARDIAN_RELATIONSHIPS = ['parent', 'grandparent', 'sibling', 'guardian', 'other'] as const

export interface Terms {
  relationship: string
  scope: Scope
  kinds?: string[]
  /** ISO date-time with a time zone, or null for "until I revoke" */
  expires_at: string | null
}

export interface Grant {
  id: string
  person_id: string
  person_name: string
  grantee_name: string | null
  relationship: string
  relationship_label: { zh: string; en: string }
  kind: string // invitation / request / guardian / elder
  scope: string
  kinds: string[]
  expires_at: string | null
  status: string // pending / active / expired / ended / revoked / left / declined
  created_at: string
}

/** "张*********" (a masked 10-character WeChat nickname) → "张**": one star per hidden character
 * shows the length and reads badly; two stars say "masked" just as well. */
const mask = (s: string | null | undefined): string | null => (s ? s.replace(/\*{3,}/g, '**') : null)

function grant(g: S['GrantOut']): Grant {
  return {
    id: g.id, person_id: g.person_id, person_name: g.person_name, grantee_name: mask(g.grantee_name),
    relationship: g.relationship, relationship_label: { zh: g.relationship_label, en: g.relationship_label_en },
    kind: g.kind, scope: g.scope, kinds: g.kinds, expires_at: g.expires_at ?? null, status: g.status, created_at: g.created_at,
  }
}

const termsBody = (t: Terms): S['TermsIn'] => ({
  relationship: t.relationship, scope: t.scope, kinds: t.kinds ?? [], expires_at: t.expires_at, may_share: false, may_grant: false,
})

export interface Invitation { url: string; qr_svg: string; expires_at: string }

export async function createInvitation(personId: string, terms: Terms): Promise<Invitation> {
  const r = await request<S['InvitationOut']>(`${V1}/people/${enc(personId)}/invitations`, { method: 'POST', json: termsBody(terms) })
  return { url: r.url, qr_svg: r.qr_svg, expires_at: r.expires_at }
}

export interface InvitationPreview {
  person_name: string
  relationship: string
  relationship_label: string
  scope: string
  kinds: string[]
  grant_expires_at: string | null
  expires_at: string
  status: 'open' | 'used' | 'expired' | (string & {})
}

export async function previewInvitation(token: string, signal?: AbortSignal): Promise<InvitationPreview> {
  const r = await request<S['InvitationPreview']>(`${V1}/invitations/${enc(token)}`, { signal })
  return { ...r, grant_expires_at: r.grant_expires_at ?? null }
}

export async function acceptInvitation(token: string): Promise<Grant> {
  return grant(await request<S['GrantOut']>(`${V1}/invitations/${enc(token)}/accept`, { method: 'POST' }))
}

/** Who may see this person's records (the person's side). */
export async function grantsOf(personId: string, signal?: AbortSignal): Promise<Grant[]> {
  return (await request<S['GrantOut'][]>(`${V1}/people/${enc(personId)}/grants`, { signal })).map(grant)
}

/** Whose records this account may see (the relative's side). */
export async function heldGrants(signal?: AbortSignal): Promise<Grant[]> {
  return (await request<S['GrantOut'][]>(`${V1}/grants`, { signal })).map(grant)
}

/** Revoke (the person) or leave (the relative): the same call. */
export function endGrant(id: string): Promise<void> {
  return request<void>(`${V1}/grants/${enc(id)}`, { method: 'DELETE' })
}

export function answerGrant(id: string, confirm: boolean): Promise<S['GrantOut']> {
  return request<S['GrantOut']>(`${V1}/grants/${enc(id)}/${confirm ? 'confirm' : 'decline'}`, { method: 'POST' })
}

export function requestAccess(body: { name: string; resident_id: string } & Terms): Promise<S['RequestOut']> {
  return request<S['RequestOut']>(`${V1}/grant-requests`, { method: 'POST', json: { ...termsBody(body), name: body.name, resident_id: body.resident_id } })
}

export async function guardianOtp(body: { name: string; resident_id: string }): Promise<void> {
  await request<S['OtpOut']>(`${V1}/guardianships/otp`, { method: 'POST', json: body })
}

export async function becomeGuardian(body: S['GuardianIn']): Promise<Grant> {
  return grant(await request<S['GrantOut']>(`${V1}/guardianships`, { method: 'POST', json: body }))
}

export interface AccessEntry {
  id: string
  at: string
  event_type: string
  action: { zh: string; en: string }
  title: string | null
  who: string // ready to show: "本人", "李* (子女)", "分享 #3f2a", a hospital
  who_kind: string // self / relative / share / institution / operator / other
  relationship_label: string | null
  relationship: string | null
  masked_name: string | null
  via: string
  via_share_id: string | null
}

export async function accessLog(personId: string, cursor: string | null, signal?: AbortSignal): Promise<{ items: AccessEntry[]; next: string | null }> {
  const r = await request<S['AccessLogPage']>(`${V1}/people/${enc(personId)}/access-log`, { query: { cursor, limit: 50 }, signal })
  return {
    items: r.items.map((i) => ({
      id: i.id, at: i.at, event_type: i.event_type, action: { zh: i.action_label, en: i.action_label_en }, title: i.title ?? null,
      who: mask(i.actor.display) ?? '', who_kind: i.actor.kind, relationship_label: i.actor.relationship_label ?? null, via: i.via,
      relationship: i.actor.relationship ?? null, masked_name: mask(i.actor.masked_name),
      via_share_id: i.via_share_id ?? null,
    })),
    next: r.next_cursor ?? null,
  }
}

export function jssdkConfig(url: string): Promise<S['JsSdkConfigOut']> {
  return request<S['JsSdkConfigOut']>(`${V1}/wechat/jssdk-config`, { query: { url } })
}
