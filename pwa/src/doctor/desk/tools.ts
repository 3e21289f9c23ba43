// The workstation's tools with their keys, and the CT window presets (centre/width in HU: the same values
// as the patient viewer's and the backend's presets, backend/imaging/rendering/presets.py).
import type { Tool } from './measure'

export interface Preset { id: string; center?: number; width?: number }
export const CT_PRESETS: Preset[] = [
  { id: 'default' }, { id: 'mediastinum', center: 40, width: 400 }, { id: 'lung', center: -600, width: 1500 },
  { id: 'bone', center: 400, width: 1800 }, { id: 'brain', center: 40, width: 80 }, { id: 'abdomen', center: 60, width: 400 },
]

export const TOOLS: { id: Tool; key: string; icon: string }[] = [
  { id: 'wl', key: 'W', icon: '◐' }, { id: 'pan', key: 'P', icon: '✥' }, { id: 'zoom', key: 'Z', icon: '⊕' },
  { id: 'length', key: 'L', icon: '↔' }, { id: 'angle', key: 'A', icon: '∠' }, { id: 'ellipse', key: 'E', icon: '◯' },
  { id: 'probe', key: 'V', icon: '◎' },
]
