// The shared studies as the workstation needs them: UIDs for DICOMweb, image series with thumbnails,
// the report when the patient shared it. Read through the ordinary patient route (the access policy
// lets the share session read exactly its share's studies).
import { getStudy } from '@/imaging/api'
import type { StudyRef } from './pane'

export interface DeskSeries {
  id: string
  uid: string
  number: number | null
  description: string | null
  modality: string | null
  count: number
  thumbnail: string | null
}

export interface DeskStudy extends StudyRef {
  modalities: string[]
  institution: string | null
  series: DeskSeries[]
  report: { findings: string; impression: string; physician: string | null } | null
}

const IMAGE_MODALITIES = new Set(['SR', 'SEG', 'PR', 'KO', 'DOC', 'RTSTRUCT', 'RTPLAN', 'REG', 'ECG'])

/** `title`: the share's own title of the study (the timeline's, as the phone list shows it). */
export async function deskStudy(personId: string, studyId: string, title?: string, signal?: AbortSignal): Promise<DeskStudy> {
  const s = await getStudy(personId, studyId, signal)
  return {
    id: s.id, uid: s.study_instance_uid, title: title || s.title || s.description || '', date: s.occurred_at,
    modalities: s.modalities, institution: s.institution?.name ?? null,
    series: s.series
      .filter((x) => !IMAGE_MODALITIES.has((x.modality ?? '').toUpperCase()) && x.previews?.scrub)
      .map((x) => ({
        id: x.id, uid: x.series_instance_uid, number: x.number ?? null, description: x.description ?? null,
        modality: x.modality ?? null, count: x.image_count, thumbnail: x.previews?.thumbnail ?? null,
      })),
    report: s.report ? { findings: s.report.findings, impression: s.report.impression, physician: s.report.reporting_physician ?? null } : null,
  }
}

/** The series to open first: the one with the most images (the main stack of a CT or MR). */
export function mainSeries(study: DeskStudy, like?: { modality: string | null }): DeskSeries | null {
  const pool = like?.modality ? study.series.filter((s) => s.modality === like.modality) : []
  const from = pool.length ? pool : study.series
  return [...from].sort((a, b) => b.count - a.count)[0] ?? null
}

export function seriesLabel(s: DeskSeries): string {
  return s.description || `${s.modality ?? ''} #${s.number ?? ''}`
}
