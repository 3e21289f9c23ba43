import { i18n } from './i18n'

/** "2024-03-15" (zh) or "15 Mar 2024" (en) from an ISO date or date-time; dates are shown as the hospital recorded them. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return ''
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso)
  if (Number.isNaN(d.getTime())) return iso
  const locale = i18n.global.locale.value
  return locale === 'en'
    ? d.toLocaleDateString('en-GB', { year: 'numeric', month: 'short', day: 'numeric' })
    : `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
}

export function yearOf(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 4) : ''
}
