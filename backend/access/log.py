"""Reading the audit log back for the person it is about: "who looked at my records".

Every read (EventActionCode "R", PS3.15 A.5.3) whose ``person_id`` is this person, and every change of
where its identity codes go (people/contacts.py), newest first,
with the actor turned into plain words the app can phrase — "李* (子女)", "分享 #3f2a", "某某医院" —
and the object into its timeline title. Nothing here decides access: the router asks the policy
first (the person, or a guardian of a minor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.models import AuditEvent
from backend.auth.models import Account, Binding
from backend.family import rules
from backend.family.models import Grant
from backend.institutions.models import Institution
from backend.people.masking import mask_account_name, mask_distinct
from backend.people.models import Person
from backend.records.models import TimelineEntry
from backend.sharing.models import Share

MAX_LIMIT = 100
MAX_SEQ = 2**63 - 1  # audit_event.seq is a BIGINT (PostgreSQL) / a 64-bit INTEGER (SQLite)
# event_type → (中文, English) of what was done, for events without a record title
ACTIONS: dict[str, tuple[str, str]] = {
    "timeline.read": ("浏览了健康档案", "viewed the timeline"),
    "study.read": ("查看了影像检查", "viewed an imaging study"),
    "study.priors.read": ("查看了历史对比检查", "viewed prior studies"),
    "lab.read": ("查看了检验报告", "viewed a lab report"),
    "lab.trends.list": ("查看了检验趋势", "viewed lab trends"),
    "lab.trend.read": ("查看了检验趋势", "viewed a lab trend"),
    "checkup.read": ("查看了体检报告", "viewed a checkup"),
    "export.fhir": ("导出了健康档案", "exported the records"),
    "series.view": ("浏览了影像", "viewed images"),
    "study.report.pdf": ("下载了检查报告PDF", "downloaded a report PDF"),
    "lab.report.pdf": ("下载了检验报告PDF", "downloaded a lab report PDF"),
    "summary.pdf": ("下载了健康档案摘要", "downloaded the health summary"),
    "checkup.report.pdf": ("下载了体检报告PDF", "downloaded a checkup report PDF"),
    "checkup.report.pages": ("查看了体检报告PDF", "viewed a checkup report PDF"),
    "checkup.report.page": ("查看了体检报告PDF", "viewed a checkup report PDF"),
    "share.open": ("打开了分享链接", "opened a share link"),
    "share.code_failed": ("输错了访问码", "typed a wrong access code"),
    "share.session.read": ("查看了分享内容", "viewed the share"),
    "share.download": ("下载了分享的影像", "downloaded shared images"),
    "dicom.wado": ("调阅了影像文件", "retrieved image files"),
    "pdf.verify": ("核验了纸质报告", "verified a printed report"),
    # Where identity codes go (people/contacts.py): every change is shown to the person, not only reads.
    "person.phone_set": ("登记了接收验证码的手机", "registered the phone for identity codes"),
    "person.phone_proposed": ("登记了新手机号，待您确认", "registered a new phone, awaiting proof"),
    "person.phone_changed": ("更改了接收验证码的手机", "changed the phone for identity codes"),
    "person.phone_rejected": ("拒绝了新登记的手机号", "rejected a newly registered phone"),
    "person.contacts.read": ("查看了联系方式", "viewed the contact details"),
}
CONTACT_EVENTS = ("person.phone_set", "person.phone_proposed", "person.phone_changed", "person.phone_rejected")
# Not reads, but part of a doctor's visit the person should see (issue 19 item 3).
SHARE_EVENTS = ("share.code_failed",)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # self / relative / share / institution / operator / public / other
    display: str  # ready to show: "本人", "李* (子女)", "分享 #3f2a", the hospital's name
    relationship: str | None = None
    relationship_label: str | None = None
    masked_name: str | None = None
    share_ref: str | None = None
    institution_name: str | None = None
    recipient: str | None = None  # the share's label, "鼓楼医院 王医生"


@dataclass(frozen=True, slots=True)
class LogItem:
    id: str
    seq: int
    at: datetime
    event_type: str
    action_label: str
    action_label_en: str
    object_type: str | None
    object_id: str | None
    title: str | None
    actor: Actor
    via_grant_id: str | None
    via_share_id: str | None


def _account_name(session: Session, account_id: str) -> str | None:
    person_id = session.exec(select(Binding.person_id).where(
        Binding.account_id == account_id, col(Binding.revoked_at).is_(None))).first()
    person = session.get(Person, person_id) if person_id else None
    if person is not None:
        return mask_account_name(person.name)
    account = session.get(Account, account_id)
    return mask_account_name(account.nickname) if account and account.nickname else None


def _relative_name(session: Session, account_id: str) -> str | None:
    """A relative told apart from another of the same relationship (issue 19 item 3: two children both
    "张*"): the first and the last character, 张*娜 / 张*明; a two-character name stays 张*."""
    person_id = session.exec(select(Binding.person_id).where(
        Binding.account_id == account_id, col(Binding.revoked_at).is_(None))).first()
    person = session.get(Person, person_id) if person_id else None
    account = session.get(Account, account_id)
    name = (person.name if person else account.nickname if account else None) or ""
    return mask_distinct(name) if name.strip() else None


def _actor(session: Session, row: AuditEvent, cache: dict[tuple[str, str], Actor]) -> Actor:
    key = (row.actor_kind, f"{row.actor_id}:{row.via_grant_id}:{row.via_share_id}")
    if key in cache:
        return cache[key]
    actor: Actor
    if row.actor_kind == "account" and row.via_grant_id:
        grant = session.get(Grant, row.via_grant_id)
        relationship = grant.relationship if grant else "other"
        label = rules.relationship_label(relationship)[0]
        name = _relative_name(session, row.actor_id) or "家人"
        actor = Actor(kind="relative", display=f"{name} ({label})", relationship=relationship,
                      relationship_label=label, masked_name=name)
    elif row.actor_kind == "account":
        actor = Actor(kind="self", display="本人")
    elif row.actor_kind == "share" or (row.actor_kind == "anonymous" and row.via_share_id):
        # A wrong access code is typed before any session exists: still the visit of that share's link.
        share_id = row.via_share_id or row.actor_id
        share = session.get(Share, share_id)
        recipient = share.recipient if share else None
        ref = share_id[:4]
        label = f"分享 #{ref} · {recipient}" if recipient else f"分享 #{ref}"
        actor = Actor(kind="share", display=f"医生（{label}）", share_ref=ref, recipient=recipient)
    elif row.actor_kind == "institution":
        inst = session.get(Institution, row.actor_id)
        name = inst.name if inst else "医院"
        actor = Actor(kind="institution", display=name, institution_name=name)
    elif row.actor_kind == "operator":
        actor = Actor(kind="operator", display="系统运维")
    elif row.actor_kind == "anonymous":  # e.g. someone holding a printed report checked its code (/v/…)
        actor = Actor(kind="public", display="持报告者（扫码核验）")
    else:
        actor = Actor(kind="other", display="其他")
    cache[key] = actor
    return actor


def _titles(session: Session, person_id: str, rows: list[AuditEvent]) -> dict[tuple[str, str], str]:
    """(object_type, object_id) → the record's timeline title; a viewed series takes its study's."""
    from backend.studies.models import Series  # imported late: access sits low in the import graph

    refs = {r.object_id for r in rows if r.object_id}
    series_ids = {r.object_id for r in rows if r.object_id and r.object_type == "imaging_series"}
    study_of = dict(session.exec(select(Series.id, Series.study_id).where(col(Series.id).in_(sorted(series_ids))))
                    .all()) if series_ids else {}
    titles: dict[tuple[str, str], str] = {}
    wanted = sorted(refs | set(study_of.values()))
    if wanted:
        for entry in session.exec(select(TimelineEntry).where(
                TimelineEntry.person_id == person_id, col(TimelineEntry.ref_id).in_(wanted))).all():
            titles[(entry.kind, entry.ref_id)] = entry.title
    for series_id, study_id in study_of.items():
        if ("imaging_study", study_id) in titles:
            titles[("imaging_series", series_id)] = titles[("imaging_study", study_id)]
    return titles


def read_log(session: Session, *, person_id: str, before: int | None, limit: int) -> tuple[list[LogItem], int | None]:
    """One page, newest first; the cursor is the last row's ``seq`` (stable: the chain only grows)."""
    shown = (col(AuditEvent.action) == audit.READ) | col(AuditEvent.event_type).in_(CONTACT_EVENTS + SHARE_EVENTS)
    query = select(AuditEvent).where(AuditEvent.person_id == person_id, shown)
    if before is not None:
        query = query.where(col(AuditEvent.seq) < before)
    rows = list(session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    titles = _titles(session, person_id, rows)
    cache: dict[tuple[str, str], Actor] = {}
    items = []
    for row in rows:
        zh, en = ACTIONS.get(row.event_type, ("查看了记录", "viewed a record"))
        items.append(LogItem(
            id=row.event_id, seq=row.seq, at=row.at, event_type=row.event_type, action_label=zh, action_label_en=en,
            object_type=row.object_type, object_id=row.object_id,
            title=titles.get((row.object_type or "", row.object_id or "")), actor=_actor(session, row, cache),
            # DICOMweb reads name the share as their actor, not as via_share_id: one share, one name.
            via_grant_id=row.via_grant_id,
            via_share_id=row.via_share_id or (row.actor_id if row.actor_kind == "share" else None),
        ))
    return items, (rows[-1].seq if more and rows else None)
