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

// DICOM Body Part Examined (PS3.16 Annex L, CID 4031) codes the demo and hospitals send, in words.
const BODY_PARTS: Record<string, [string, string]> = {
  CHEST: ['胸部', 'Chest'], BRAIN: ['头颅', 'Brain'], HEAD: ['头部', 'Head'], ABDOMEN: ['腹部', 'Abdomen'],
  PELVIS: ['盆腔', 'Pelvis'], HEART: ['心脏', 'Heart'], SHOULDER: ['肩关节', 'Shoulder'], KNEE: ['膝关节', 'Knee'],
  NECK: ['颈部', 'Neck'], LSPINE: ['腰椎', 'Lumbar spine'], CSPINE: ['颈椎', 'Cervical spine'], TSPINE: ['胸椎', 'Thoracic spine'],
  LIVER: ['肝脏', 'Liver'], BREAST: ['乳腺', 'Breast'], HAND: ['手', 'Hand'], FOOT: ['足', 'Foot'],
}

/** "CHEST" → 胸部 / Chest; a code we do not know is shown as sent. */
export function bodyPartLabel(code: string | null | undefined): string {
  if (!code) return ''
  const found = BODY_PARTS[code.trim().toUpperCase()]
  return found ? found[i18n.global.locale.value === 'en' ? 1 : 0] : code
}
