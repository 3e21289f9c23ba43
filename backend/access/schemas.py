"""Bodies of the access-history API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ActorOut(BaseModel):
    kind: str  # self / relative / share / institution / operator / public (anonymous: a report's code checked)
    display: str  # e.g. "李* (子女)"
    relationship: str | None = None
    relationship_label: str | None = None
    masked_name: str | None = None
    share_ref: str | None = None
    institution_name: str | None = None
    recipient: str | None = None  # a share's label, e.g. 鼓楼医院 王医生


class AccessLogItem(BaseModel):
    id: str
    at: datetime
    event_type: str  # e.g. study.read
    action_label: str  # 查看了影像检查
    action_label_en: str
    object_type: str | None  # record kind, or "person"
    object_id: str | None
    title: str | None  # the record's timeline title, e.g. 胸部CT平扫
    actor: ActorOut
    via: str  # self / grant / share / institution / operator / public
    via_grant_id: str | None
    via_share_id: str | None


class AccessLogPage(BaseModel):
    items: list[AccessLogItem]
    next_cursor: str | None
