import { describe, expect, it } from 'vitest'
import { groupVisits, type VisitRow } from './visits'

const row = (id: string, at: string, event_type: string, title: string | null = null, who = 'd', browser: string | null = null) =>
  ({ id, at: `2026-12-06T${at}:00Z`, event_type, title, action: { zh: event_type, en: event_type }, who, browser })

describe('access history visits (issue 19 item 3)', () => {
  it('turns one doctor\'s visit into one line with counts', () => {
    const rows = [
      row('9', '08:20', 'share.download'), row('8', '08:19', 'series.view', '胸部CT增强'), row('7', '08:18', 'series.view', '胸部CT增强'),
      row('6', '08:17', 'study.read', '胸部CT增强'), row('5', '08:16', 'share.session.read'), row('4', '08:15', 'share.open', null, 'd', 'Chrome · Windows'),
      row('3', '08:14', 'share.code_failed'), row('2', '08:14', 'share.code_failed'),
    ]
    const [visit, ...rest] = groupVisits(rows, (r) => r.who)
    expect(rest).toEqual([])
    expect(visit).toMatchObject({ opened: 1, images: 2, downloads: 1, wrongCodes: 2, titles: ['胸部CT增强'], browser: 'Chrome · Windows' })
    expect(visit.others.map((o) => o.zh)).toEqual(['share.session.read'])
  })

  it('keeps a visit whole when someone else looks in between', () => {
    const rows = [row('3', '10:02', 'series.view', 'A', 'doc'), row('2', '10:01', 'timeline.read', null, 'me'), row('1', '10:00', 'share.open', null, 'doc')]
    expect(groupVisits(rows, (r) => r.who).map((v) => [v.first.who, v.opened, v.images])).toEqual([['doc', 1, 1], ['me', 0, 0]])
  })

  it('starts a new visit for another visitor or after half an hour', () => {
    const rows: (VisitRow & { who: string })[] = [
      row('4', '10:00', 'study.read', 'A', 'x'), row('3', '09:50', 'study.read', 'B', 'y'), row('2', '09:40', 'study.read', 'C', 'y'),
      row('1', '09:00', 'study.read', 'D', 'y'),
    ]
    expect(groupVisits(rows, (r) => r.who).map((v) => v.titles)).toEqual([['A'], ['C', 'B'], ['D']])
  })
})
