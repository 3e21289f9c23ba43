// Identity binding (CONTRACT.md: POST /api/v1/me/binding/otp, POST /api/v1/me/binding) and its withdrawal.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type S = components['schemas']

/** Sends a code to the person's verified phone; answers the same for every input (no oracle). */
export function sendBindingOtp(body: S['OtpIn'], signal?: AbortSignal): Promise<S['OtpOut']> {
  return ok(api.POST('/api/v1/me/binding/otp', { body, signal }))
}

export function bind(body: S['BindingIn']): Promise<S['BindingOut']> {
  return ok(api.POST('/api/v1/me/binding', { body }))
}

/** Withdraws consent and ends the binding (family grants and share links stop working). */
export async function withdrawConsent(): Promise<void> {
  await ok(api.DELETE('/api/v1/me/binding'))
}
