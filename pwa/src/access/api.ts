// The person's access history (CONTRACT.md: GET /api/v1/people/{person_id}/access-log).
import { api, ok } from '@/api/client'
import type { components } from '@/api/schema'

type Item = components['schemas']['AccessLogItem']

/** One line of the access-history screen: a log item, or (AccessLogView) an open of a share link. */
export interface AccessEntry {
  id: string
  at: string
  event_type: string
  action: { zh: string; en: string }
  title: string | null
  who: string // ready to show, masked by the server: "本人", "李* (子女)", "分享 #3f2a", a hospital
  who_kind: string // self / relative / share / institution / operator / other
  relationship_label: string | null
  relationship: string | null
  masked_name: string | null
  via: string
  via_share_id: string | null
  /** a share's label, "鼓楼医院 王医生" */
  recipient?: string | null
}

function entry(i: Item): AccessEntry {
  return {
    id: i.id, at: i.at, event_type: i.event_type, action: { zh: i.action_label, en: i.action_label_en }, title: i.title ?? null,
    who: i.actor.display, who_kind: i.actor.kind, relationship_label: i.actor.relationship_label ?? null, via: i.via,
    relationship: i.actor.relationship ?? null, masked_name: i.actor.masked_name ?? null,
    via_share_id: i.via_share_id ?? null, recipient: i.actor.recipient ?? null,
  }
}

export async function accessLog(personId: string, cursor: string | null, signal?: AbortSignal): Promise<{ items: AccessEntry[]; next: string | null }> {
  const r = await ok(api.GET('/api/v1/people/{person_id}/access-log', { params: { path: { person_id: personId }, query: { cursor, limit: 50 } }, signal }))
  return { items: r.items.map(entry), next: r.next_cursor ?? null }
}
