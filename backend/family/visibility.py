"""What a relative sees, set by the person (issue 19 item 4): the record kinds of a grant, the studies
hidden from it, and when the relative last looked. The access policy applies both on every request
(``PersonAccess.kinds`` and ``hidden_refs``); this module only changes and reports them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.models import AuditEvent
from backend.access.principals import AccountPrincipal
from backend.errors import NotFound
from backend.family import rules
from backend.family.models import Grant
from backend.family.service import Terms, check_terms
from backend.records.models import TimelineEntry

MAX_HIDDEN = 500


def _grant_of_person(session: Session, *, grant_id: str, principal: AccountPrincipal) -> Grant:
    """A grant the principal may change: the grantor (or a guardian managing a child's grants). Anyone
    else, and the relative holding it, get the same 404 as for an unknown id."""
    from backend.access.service import authorize_person

    grant = session.get(Grant, grant_id)
    if grant is None or grant.grantee_account_id == principal.account_id:
        raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found")
    try:
        access = authorize_person(session=session, principal=principal, person_id=grant.grantor_person_id)
    except NotFound:
        raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found") from None
    if not (access.relation == "self" or access.manages_grants):
        raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found")
    return grant


def update(session: Session, *, grant_id: str, principal: AccountPrincipal, scope: str, kinds: list[str],
           hidden: list[str]) -> Grant:
    """New kinds and hidden records for one relative; effective on the relative's next request."""
    grant = _grant_of_person(session, grant_id=grant_id, principal=principal)
    stored = check_terms(Terms(relationship=grant.relationship, scope=scope, kinds=tuple(kinds)))
    ids = list(dict.fromkeys(hidden))[:MAX_HIDDEN]
    if ids:  # only this person's records can be hidden; anything else is the usual 404
        found = set(session.exec(select(TimelineEntry.ref_id).where(
            TimelineEntry.person_id == grant.grantor_person_id, col(TimelineEntry.ref_id).in_(ids))).all())
        if found != set(ids):
            raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    grant.scope, grant.kinds, grant.hidden_refs = scope, stored, ",".join(ids) or None
    session.add(grant)
    audit.record(session, principal=principal, action=audit.UPDATE, event_type="grant.scope",
                 person_id=grant.grantor_person_id, object_type="grant", object_id=grant.id,
                 detail={"scope": scope, "kinds": stored, "hidden": len(ids)})
    return grant


def last_viewed(session: Session, *, grant_ids: list[str]) -> dict[str, datetime]:
    """grant id → when the relative last read something through it (the audit log's reads)."""
    if not grant_ids:
        return {}
    rows = session.exec(select(AuditEvent.via_grant_id, func.max(AuditEvent.at)).where(
        col(AuditEvent.via_grant_id).in_(grant_ids), AuditEvent.action == audit.READ)
        .group_by(col(AuditEvent.via_grant_id))).all()
    return {gid: at for gid, at in rows if gid and at}


def hidden_ids(grant: Grant) -> list[str]:
    return sorted(rules.hidden_refs(grant.hidden_refs))
