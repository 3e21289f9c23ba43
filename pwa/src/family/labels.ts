// Plain-language wording of a grant: relationship, what it lets the relative see, until when.
import { i18n } from '@/shared/i18n'
import { formatDate } from '@/shared/format'
import type { Grant } from './api'

const t = (k: string, a?: Record<string, unknown>) => i18n.global.t(k, a ?? {})

export function relationLabel(rel: string): string {
  const k = `family.rel.${rel}`
  return i18n.global.te(k) ? t(k) : rel
}

export function scopeText(scope: string, kinds: string[] = []): string {
  if (scope === 'kinds' && kinds.length) return t('family.scope.kinds', { kinds: kinds.map((k) => t(`kinds.${k}`)).join('、') })
  return t(`family.scope.${scope === 'imaging' ? 'imaging' : 'all'}`)
}

/** `held`: worded for the relative (the person may revoke, the relative may leave). */
export function untilText(iso: string | null, held = false): string {
  return iso ? t('family.until', { date: formatDate(iso) }) : t(held ? 'family.untilRevokedHeld' : 'family.untilRevoked')
}

const INVERSE: Record<string, string> = {
  spouse: 'spouse', parent: 'child', child: 'parent', sibling: 'sibling', grandparent: 'grandchild', grandchild: 'grandparent',
  guardian: 'ward', other: 'other',
}

/** A grant I hold, named from my side: the person I may see is my "parent" when I am their "child". */
export function heldLabel(g: Grant): string {
  return relationLabel(INVERSE[g.relationship] ?? g.relationship)
}

export function grantLabel(g: Grant): string {
  return relationLabel(g.relationship)
}

// /me's relation is already from the account's side (backend/access/service.py people_for_account:
// a grant whose grantee is the grantor's child lists a "parent"): "张* 父母" for a daughter's view.
export function personRelation(relation: string): string {
  return relation === 'self' ? t('family.rel.self') : relationLabel(relation)
}
