"""``GET /api/v1/people/{person_id}/access-log`` — who read this person's records, newest first.

Readable by the person and by a guardian of a minor; for everyone else (other relatives included)
the answer is 404 like any object they may not see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.access import audit, log
from backend.access.principals import AccountPrincipal
from backend.access.schemas import AccessLogItem, AccessLogPage, ActorOut
from backend.api.deps import ReadablePerson, SessionDep
from backend.errors import BadRequest, NotFound

router = APIRouter(tags=["access"])


def _via(item: log.LogItem) -> str:
    if item.via_grant_id:
        return "grant"
    if item.via_share_id:
        return "share"
    return {"self": "self", "institution": "institution", "operator": "operator",
            "public": "public"}.get(item.actor.kind, "other")


@router.get("/people/{person_id}/access-log", response_model=AccessLogPage,
            summary="Who accessed this person's records (newest first)")
def read_access_log(
    access: ReadablePerson,
    session: SessionDep,
    response: Response,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=log.MAX_LIMIT)] = 20,
) -> AccessLogPage:
    if not isinstance(access.principal, AccountPrincipal) or (access.relation != "self" and not access.guardian):
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    before = int(cursor) if cursor else None
    if before is not None and before > log.MAX_SEQ:  # wider than the 64-bit sequence: a 500 in the database
        raise BadRequest("The cursor is invalid; start again from the first page.", code="invalid-cursor",
                         zh="分页游标无效，请从第一页重新开始。")
    items, next_seq = log.read_log(session, person_id=access.person_id, before=before, limit=limit)
    # Recorded as EXECUTE, not READ: looking at the log is not a read of the records themselves, and
    # the log stays about the records.
    access.audit(session, event_type="access_log.read", action=audit.EXECUTE, object_type="person",
                 object_id=access.person_id)
    response.headers["Cache-Control"] = "no-store"
    return AccessLogPage(
        items=[AccessLogItem(
            id=i.id, at=i.at, event_type=i.event_type, action_label=i.action_label, action_label_en=i.action_label_en,
            object_type=i.object_type, object_id=i.object_id, title=i.title,
            actor=ActorOut(kind=i.actor.kind, display=i.actor.display, relationship=i.actor.relationship,
                           relationship_label=i.actor.relationship_label, masked_name=i.actor.masked_name,
                           share_ref=i.actor.share_ref, institution_name=i.actor.institution_name,
                           recipient=i.actor.recipient),
            via=_via(i), via_grant_id=i.via_grant_id, via_share_id=i.via_share_id,
        ) for i in items],
        next_cursor=str(next_seq) if next_seq is not None else None,
    )
