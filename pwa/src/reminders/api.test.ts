import { describe, expect, it } from 'vitest'
import { shownReminders, type Reminder } from './api'

const r = (study_id: string, due: string, status: string): Reminder => ({
  study_id, title: study_id, study_date: '2020-01-01', due, phrase: '12个月后复查', stated: true, status, done_by: null, done_title: null, detail_url: '',
})

describe('reminders on the timeline (issue 19 item 5)', () => {
  it('shows what is open or recently due, soonest first, and the last one done; not advice long past', () => {
    const all = [r('old', '2004-11-25', 'due'), r('ct', '2026-05-15', 'due'), r('mr', '2027-03-01', 'open'),
      r('x', '2019-04-01', 'done'), r('y', '2024-05-20', 'done')]
    expect(shownReminders(all, new Date('2026-12-06T00:00:00Z')).map((x) => x.study_id)).toEqual(['ct', 'mr', 'y'])
  })
})
