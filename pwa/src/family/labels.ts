// Plain-language wording of a grant: relationship, what it lets the relative see, until when.
import { i18n } from '@/shared/i18n'
import { formatDate } from '@/shared/format'
import type { Grant } from '@/api/family'

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

export function grantLabel(g: Grant): string {
  return i18n.global.locale.value === 'en' ? g.relationship_label.en : g.relationship_label.zh
}

// /me's relation is what the account holder is to the person (a grant's relationship); the switcher
// names the person from the viewer's side: "张* (父母)" for a daughter's view of her father.
const INVERSE: Record<string, string> = {
  spouse: 'spouse', parent: 'child', child: 'parent', sibling: 'sibling', grandparent: 'grandchild', grandchild: 'grandparent',
  guardian: 'ward', other: 'other',
}

export function personRelation(relation: string): string {
  if (relation === 'self') return t('family.rel.self')
  return relationLabel(INVERSE[relation] ?? relation)
}
