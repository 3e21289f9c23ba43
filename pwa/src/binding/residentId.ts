// GB 11643-1999 citizen identification number: 17 digits + a check character computed with
// ISO 7064 MOD 11-2 (weights 2^(17-i) mod 11; remainder → "10X98765432"). The backend validates
// again (backend/people/resident_id.py); this check only gives instant feedback while typing.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = '10X98765432'

export function normalizeResidentId(raw: string): string {
  return raw.replace(/\s+/g, '').toUpperCase()
}

export function checkCharacter(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]
  return CHECK[sum % 11]
}

/** 'incomplete' while typing (fewer than 18 characters, all plausible), else 'valid' or 'invalid'. */
export function residentIdState(raw: string): 'empty' | 'incomplete' | 'valid' | 'invalid' {
  const id = normalizeResidentId(raw)
  if (!id) return 'empty'
  if (!/^\d{0,17}[\dX]?$/.test(id)) return 'invalid'
  if (id.length < 18) return /X/.test(id) ? 'invalid' : 'incomplete'
  if (!/^\d{17}[\dX]$/.test(id)) return 'invalid'
  // Birth date (positions 7-14) must be a real calendar date.
  const y = Number(id.slice(6, 10)), m = Number(id.slice(10, 12)), d = Number(id.slice(12, 14))
  const date = new Date(Date.UTC(y, m - 1, d))
  if (y < 1900 || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return 'invalid'
  return checkCharacter(id.slice(0, 17)) === id[17] ? 'valid' : 'invalid'
}
