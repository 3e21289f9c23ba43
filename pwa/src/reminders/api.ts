// Follow-up reminders from the reports (issue 19 item 5): GET /api/v1/people/{person_id}/reminders.
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

export type Reminder = components['schemas']['ReminderOut']

export async function getReminders(personId: string, signal?: AbortSignal): Promise<Reminder[]> {
  return (await ok(api.GET('/api/v1/people/{person_id}/reminders', { params: { path: { person_id: personId } }, signal }))).items
}

/** What the timeline shows: open and due follow-ups, soonest first (not those long past: a follow-up due
 * more than two years ago is history, not a reminder), and the last one done. */
export function shownReminders(all: Reminder[], today = new Date()): Reminder[] {
  const cutoff = new Date(today.getTime() - 730 * 86400_000).toISOString().slice(0, 10)
  const pending = all.filter((r) => r.status !== 'done' && r.due >= cutoff).sort((a, b) => a.due.localeCompare(b.due))
  const done = all.filter((r) => r.status === 'done').sort((a, b) => b.due.localeCompare(a.due)).slice(0, 1)
  return [...pending, ...done]
}
