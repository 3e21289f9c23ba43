// Family access (backend/family): invitations, grants (both sides), requests, guardianship of a minor.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type S = components['schemas']
/** A grant as either side sees it; `grantee_name` and `person_name` come masked from the server. */
export type Grant = S['GrantOut']
export type Invitation = S['InvitationOut']
export type InvitationPreview = S['InvitationPreview']

/** all = every record; imaging = studies and their reports only; kinds = the listed record kinds */
export type Scope = 'all' | 'imaging' | 'kinds'
export const RELATIONSHIPS = ['spouse', 'parent', 'child', 'sibling', 'grandparent', 'grandchild', 'other'] as const
export const GUARDIAN_RELATIONSHIPS = ['parent', 'grandparent', 'sibling', 'guardian', 'other'] as const

/** What the screens ask for; the app never grants sharing or granting further (may_share/may_grant). */
export interface Terms {
  relationship: string
  scope: Scope
  kinds?: string[]
  /** ISO date-time with a time zone, or null for "until I revoke" */
  expires_at: string | null
}

const termsBody = (t: Terms): S['TermsIn'] => ({
  relationship: t.relationship, scope: t.scope, kinds: t.kinds ?? [], expires_at: t.expires_at, may_share: false, may_grant: false,
})

export function createInvitation(personId: string, terms: Terms): Promise<Invitation> {
  return ok(api.POST('/api/v1/people/{person_id}/invitations', { params: { path: { person_id: personId } }, body: termsBody(terms) }))
}

export function previewInvitation(token: string, signal?: AbortSignal): Promise<InvitationPreview> {
  return ok(api.GET('/api/v1/invitations/{token}', { params: { path: { token } }, signal }))
}

export function acceptInvitation(token: string): Promise<Grant> {
  return ok(api.POST('/api/v1/invitations/{token}/accept', { params: { path: { token } } }))
}

/** Who may see this person's records (the person's side). */
export function grantsOf(personId: string, signal?: AbortSignal): Promise<Grant[]> {
  return ok(api.GET('/api/v1/people/{person_id}/grants', { params: { path: { person_id: personId } }, signal }))
}

/** Whose records this account may see (the relative's side). */
export function heldGrants(signal?: AbortSignal): Promise<Grant[]> {
  return ok(api.GET('/api/v1/grants', { signal }))
}

/** Revoke (the person) or leave (the relative): the same call. */
export async function endGrant(id: string): Promise<void> {
  await ok(api.DELETE('/api/v1/grants/{grant_id}', { params: { path: { grant_id: id } } }))
}

/** The person confirms or declines a relative's request. */
export function answerGrant(id: string, confirm: boolean): Promise<Grant> {
  const params = { path: { grant_id: id } }
  return ok(confirm ? api.POST('/api/v1/grants/{grant_id}/confirm', { params }) : api.POST('/api/v1/grants/{grant_id}/decline', { params }))
}

/** A relative asks by name + resident ID; the answer never says whether the person exists. */
export function requestAccess(body: { name: string; resident_id: string } & Terms): Promise<S['RequestOut']> {
  return ok(api.POST('/api/v1/grant-requests', { body: { ...termsBody(body), name: body.name, resident_id: body.resident_id } }))
}

/** Sends the guardian's code; answers the masked phone it went to. */
export async function guardianOtp(body: S['OtpIn']): Promise<void> {
  await ok(api.POST('/api/v1/guardianships/otp', { body }))
}

export function becomeGuardian(body: S['GuardianIn']): Promise<Grant> {
  return ok(api.POST('/api/v1/guardianships', { body }))
}

/** What one relative sees (issue 19 item 4): record kinds and studies hidden one by one (the person only). */
export function setVisibility(id: string, body: S['VisibilityIn']): Promise<Grant> {
  return ok(api.PUT('/api/v1/grants/{grant_id}/visibility', { params: { path: { grant_id: id } }, body }))
}
