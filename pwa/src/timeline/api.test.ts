import { describe, expect, it } from 'vitest'
import { abnormalCount, isKind, itemModality, itemRoute, itemSummary, type TimelineItem } from './api'

const base = {
  id: 'e', kind_label: '', kind_label_en: '', ref_id: 'r', occurred_at: '2024-01-01T00:00:00Z', title: 't', summary: '',
  status: null, institution: null,
}
const study: TimelineItem = {
  ...base, kind: 'imaging_study', detail_url: '/api/v1/people/p1/studies/s1?x=1',
  data: { modalities: ['CT', 'SR'], body_part: 'CHEST', series_count: 2, instance_count: 300, has_report: true, mutual_recognition_mark: null, summary_en: null },
}
const lab: TimelineItem = {
  ...base, kind: 'lab_result', detail_url: '/api/v1/people/p1/labs/l1',
  data: { abnormal_count: 3, item_count: 12, critical: false, specimen: '血清', mutual_recognition_mark: null, checkup_id: null, summary_en: '3 out of range: 空腹血糖 7.8 mmol/L↑' },
}
const plugin: TimelineItem = { ...base, kind: 'vaccination', detail_url: '/elsewhere/v1', data: { dose: 2, abnormal_count: 1 } }

describe('timeline items', () => {
  it('narrow to their kind\'s typed data', () => {
    expect(isKind(study, 'imaging_study') && study.data.series_count).toBe(2)
    expect(isKind(lab, 'imaging_study')).toBe(false)
  })

  it('route to the app screen of their detail URL, if it is a person\'s', () => {
    expect([itemRoute(study), itemRoute(lab), itemRoute(plugin)]).toEqual(['/people/p1/studies/s1', '/people/p1/labs/l1', null])
  })

  it('show modalities for studies and abnormal counts for labs, checkups and kinds that send one', () => {
    expect([itemModality(study), itemModality(lab)]).toEqual(['CT/SR', null])
    expect([abnormalCount(study), abnormalCount(lab), abnormalCount(plugin)]).toEqual([0, 3, 1])
  })

  it('speak English where the platform wrote the line, the hospital\'s words as written otherwise', () => {
    expect(itemSummary(lab, 'en')).toBe('3 out of range: 空腹血糖 7.8 mmol/L↑')
    expect(itemSummary(lab, 'zh-CN')).toBe(lab.summary)
    expect(itemSummary(study, 'en')).toBe(study.summary)
  })
})
