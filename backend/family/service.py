"""Grants: creating them by invitation or request, answering, listing, ending.

Every function takes the caller's identity explicitly; authorization of a *person* comes from the
one policy (``access.service.authorize_person`` → ``PersonAccess``); authorization of a *grant*
(who may end or answer it) is decided here from the grant's own parties, and anything the caller is
not a party to answers 404 exactly like a grant that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.access.service import PersonAccess, bound_person_id
from backend.auth.models import Binding
from backend.clock import aware, utcnow
from backend.config import Settings
from backend.crypto import lookup_digest, random_token
from backend.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests, Unprocessable
from backend.family import notices, rules
from backend.family.models import (
    ACTIVE,
    DECLINED,
    ENDED,
    GUARDIAN,
    INVITATION,
    LEFT,
    LIVE_STATUSES,
    PENDING,
    REQUEST,
    REVOKED,
    SCOPE_ALL,
    SCOPE_KINDS,
    Grant,
    Invitation,
)
from backend.people.models import Person
from backend.records import registry
from backend.shared_state import SharedState
from backend.sharing import rules as share_rules

INVITATION_TTL = timedelta(hours=24)
TOKEN_PREFIX = "yyi"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Terms:
    """What a grant allows: relationship, scope, expiry and the two delegation flags."""

    relationship: str
    scope: str = SCOPE_ALL
    kinds: tuple[str, ...] = ()
    expires_at: datetime | None = None
    may_share: bool = False
    may_grant: bool = False


def check_terms(terms: Terms, *, within: PersonAccess | None = None) -> str | None:
    """Validate; returns the stored ``kinds`` column. ``within``: a proxy delegating cannot give more
    than it holds (its own scope, no delegation flags)."""
    if terms.relationship not in rules.RELATIONSHIPS:
        raise Unprocessable("Unknown relationship.", zh="请选择与本人的关系", code="relationship-invalid",
                            allowed=sorted(rules.RELATIONSHIPS))
    if terms.scope not in (SCOPE_ALL, "imaging", SCOPE_KINDS):
        raise Unprocessable("Scope must be all, imaging or kinds.", zh="授权范围无效", code="scope-invalid")
    known = {k.name for k in registry.all_kinds()}
    stored = None
    if terms.scope == SCOPE_KINDS:
        if not terms.kinds or not set(terms.kinds) <= known:
            raise Unprocessable("Choose known record kinds.", zh="请选择可查看的记录类型", code="kinds-invalid",
                                allowed=sorted(known))
        stored = ",".join(sorted(set(terms.kinds)))
    if terms.expires_at is not None and terms.expires_at <= rules.now():
        raise Unprocessable("Expiry must be in the future.", zh="到期时间必须晚于现在", code="expiry-invalid")
    if within is not None and within.relation != "self":
        wanted = rules.scope_kinds(terms.scope, stored)
        wider = within.kinds is not None and (wanted is None or not wanted <= within.kinds)
        if wider or terms.may_share or terms.may_grant:
            raise Forbidden("Cannot grant more than you hold.", zh="不能授予超过自己权限的范围", code="grant-too-wide")
    return stored


def live_grant(session: Session, *, person_id: str, account_id: str) -> Grant | None:
    """The pair's grant that still counts (pending or active now); stale ones are closed on the way."""
    for grant in session.exec(select(Grant).where(
        Grant.grantor_person_id == person_id, Grant.grantee_account_id == account_id,
        col(Grant.status).in_(LIVE_STATUSES),
    )).all():
        if rules.effective_status(grant) in LIVE_STATUSES:
            return grant
        grant.status, grant.ended_at = ENDED, grant.ended_at or utcnow()
        session.add(grant)
        session.flush()  # before any new grant's INSERT: the live-pair unique index sees it closed
    return None


def ensure_grantable(session: Session, *, person_id: str, account_id: str) -> None:
    """Bad input shared by every path: a grant to oneself, or a second grant to the same relative."""
    if bound_person_id(session, account_id=account_id) == person_id:
        raise Unprocessable("A grant to oneself.", zh="不能授权给自己", code="grant-to-self")
    if live_grant(session, person_id=person_id, account_id=account_id) is not None:
        raise Conflict("This relative already has access.", zh="该亲属已有授权，请先撤销原授权", code="grant-exists")


def new_grant(session: Session, *, person_id: str, account_id: str, terms: Terms, kinds: str | None, kind: str,
              status: str, created_by: str, **evidence: object) -> Grant:
    grant = Grant(grantor_person_id=person_id, grantee_account_id=account_id, relationship=terms.relationship,
                  kind=kind, scope=terms.scope, kinds=kinds, expires_at=terms.expires_at, status=status,
                  may_share=terms.may_share, may_grant=terms.may_grant, created_by_account_id=created_by,
                  **evidence)  # type: ignore[arg-type]
    try:
        with session.begin_nested():  # a concurrent grant for the same pair won: 409, not 500
            session.add(grant)
            session.flush()
    except IntegrityError:
        raise Conflict("This relative already has access.", zh="该亲属已有授权，请先撤销原授权",
                       code="grant-exists") from None
    audit.record(session, principal=AccountPrincipal(created_by), action=audit.CREATE, event_type=f"grant.{kind}",
                 person_id=person_id, object_type="grant", object_id=grant.id,
                 detail={"status": status, "scope": terms.scope, "relationship": terms.relationship})
    if status == ACTIVE:
        notices.grant_started(session, grant=grant)
    return grant


# --- invitation ---------------------------------------------------------------------------------

def create_invitation(session: Session, *, access: PersonAccess, account_id: str,
                      terms: Terms) -> tuple[Invitation, str]:
    if access.relation != "self" and not access.may_grant:
        raise Forbidden("Your access does not include inviting others.", zh="您的授权不包含邀请他人",
                        code="grant-not-allowed")
    kinds = check_terms(terms, within=access)
    token = random_token(TOKEN_PREFIX, nbytes=24)
    row = Invitation(person_id=access.person_id, created_by_account_id=account_id, token_digest=lookup_digest(token),
                     relationship=terms.relationship, scope=terms.scope, kinds=kinds,
                     grant_expires_at=terms.expires_at, may_share=terms.may_share, may_grant=terms.may_grant,
                     expires_at=utcnow() + INVITATION_TTL)
    session.add(row)
    session.flush()
    access.audit(session, event_type="invitation.create", action=audit.CREATE, object_type="invitation",
                 object_id=row.id)
    return row, token


def find_invitation(session: Session, *, token: str) -> Invitation:
    if not token.startswith(TOKEN_PREFIX + "_") or len(token) > 80:
        raise NotFound("No such invitation.", zh="邀请不存在", code="invitation-not-found")
    row = session.exec(select(Invitation).where(Invitation.token_digest == lookup_digest(token))).first()
    if row is None:
        raise NotFound("No such invitation.", zh="邀请不存在", code="invitation-not-found")
    return row


def _usable(row: Invitation) -> None:
    if row.used_at is not None:
        raise Gone("This invitation was already used.", zh="该邀请已被使用", code="invitation-used")
    if aware(row.expires_at) <= utcnow():
        raise Gone("This invitation expired.", zh="该邀请已过期，请让家人重新邀请", code="invitation-expired")


def accept_invitation(session: Session, *, token: str, account_id: str) -> Grant:
    row = find_invitation(session, token=token)
    _usable(row)
    if row.created_by_account_id == account_id:
        raise Unprocessable("You cannot accept your own invitation.",
                            zh="不能接受自己发出的邀请", code="own-invitation")
    ensure_grantable(session, person_id=row.person_id, account_id=account_id)
    now = utcnow()
    # Single use even under concurrent accepts: claim the row with a compare-and-set first.
    claimed = session.execute(
        update(Invitation).where(col(Invitation.id) == row.id, col(Invitation.used_at).is_(None))
        .values(used_at=now, used_by_account_id=account_id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone("This invitation was already used.", zh="该邀请已被使用", code="invitation-used")
    session.refresh(row)
    terms = Terms(relationship=row.relationship, scope=row.scope, expires_at=row.grant_expires_at,
                  may_share=row.may_share, may_grant=row.may_grant)
    grant = new_grant(session, person_id=row.person_id, account_id=account_id, terms=terms, kinds=row.kinds,
                      kind=INVITATION, status=ACTIVE, created_by=account_id, consent_method="invitation",
                      consent_account_id=row.created_by_account_id, consented_at=row.created_at)
    row.grant_id = grant.id
    session.add(row)
    return grant


# --- request ------------------------------------------------------------------------------------

REQUEST_LIMIT = 10  # requests per account per hour: each may send someone a WeChat notice


def request_access(session: Session, *, settings: Settings, state: SharedState, account_id: str, name: str,
                   resident_id: str, terms: Terms) -> None:
    """A relative asks. The answer never says whether the person exists: nothing is returned, and a
    request that matches nobody (or repeats a pending one) is silently dropped."""
    from backend.family import otp

    kinds = check_terms(terms)
    if not state.hit(f"grant-request:account:{account_id}", window=timedelta(hours=1), limit=REQUEST_LIMIT,
                     session=session):
        raise TooManyRequests("Too many requests.", zh="申请过于频繁，请稍后再试", code="grant-request-rate-limited")
    rid = otp.parse(resident_id)
    person = session.exec(select(Person).where(
        Person.resident_id_index == otp.binding._target_index(settings, rid))).first()
    audit.record(session, principal=AccountPrincipal(account_id), action=audit.EXECUTE, event_type="grant.request",
                 person_id=person.id if person else None)
    if person is None or person.name.strip() != " ".join(name.split()):
        return
    if bound_person_id(session, account_id=account_id) == person.id:
        raise Unprocessable("A grant to oneself.", zh="不能授权给自己", code="grant-to-self")
    existing = live_grant(session, person_id=person.id, account_id=account_id)
    if existing is not None and existing.status == PENDING:
        return
    if existing is not None:
        raise Conflict("You already have access.", zh="您已有该家人的授权", code="grant-exists")
    grant = new_grant(session, person_id=person.id, account_id=account_id, terms=terms, kinds=kinds, kind=REQUEST,
                      status=PENDING, created_by=account_id)
    notices.grant_requested(session, grant=grant)


# --- answering, listing, ending -----------------------------------------------------------------

def _ward_account(session: Session, grant: Grant) -> str | None:
    row = session.exec(select(Binding.account_id).where(
        Binding.person_id == grant.grantor_person_id, col(Binding.revoked_at).is_(None))).first()
    return row


def answer(session: Session, *, grant_id: str, account_id: str, confirm: bool) -> Grant:
    """The person's own account confirms or declines a request — or, for a guardian grant of a
    14-17-year-old, the teenager confirms (or ends) it. Anyone else: 404."""
    grant = session.get(Grant, grant_id)
    if grant is None or _ward_account(session, grant) != account_id:
        raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found")
    status = rules.effective_status(grant)
    if status != PENDING:
        raise Conflict("This grant is not waiting for you.",
                       zh="该授权无需确认", code="grant-not-pending", status=status)
    now = utcnow()
    if grant.kind == GUARDIAN:
        if confirm:
            grant.teen_confirmed_at, grant.teen_confirmed_by = now, account_id
        else:
            grant.status, grant.ended_at, grant.ended_by_account_id = REVOKED, now, account_id
            _end_grantee_shares(session, grant=grant, principal=AccountPrincipal(account_id), reason="teen-declined")
    elif confirm:
        grant.status, grant.consent_method, grant.consent_account_id, grant.consented_at = (
            ACTIVE, "owner-confirm", account_id, now)
    else:
        grant.status, grant.ended_at, grant.ended_by_account_id = DECLINED, now, account_id
    session.add(grant)
    audit.record(session, principal=AccountPrincipal(account_id), action=audit.UPDATE,
                 event_type="grant.confirm" if confirm else "grant.decline", person_id=grant.grantor_person_id,
                 object_type="grant", object_id=grant.id)
    if confirm:
        notices.grant_started(session, grant=grant)
    return grant


def grants_of_person(session: Session, *, access: PersonAccess) -> list[Grant]:
    """The person (and a guardian of a child under 14) sees every grant; a proxy only its own."""
    query = select(Grant).where(Grant.grantor_person_id == access.person_id)
    if access.relation != "self" and not access.manages_grants:
        query = query.where(Grant.id == access.via_grant_id)
    return list(session.exec(query.order_by(col(Grant.created_at).desc())).all())


def grants_held(session: Session, *, account_id: str) -> list[Grant]:
    return list(session.exec(select(Grant).where(Grant.grantee_account_id == account_id)
                             .order_by(col(Grant.created_at).desc())).all())


def end(session: Session, *, grant_id: str, principal: AccountPrincipal) -> Grant:
    """The grantor (or a guardian of a child under 14) revokes; the grantee leaves. A guardian of a
    14-17-year-old who confirmed the guardianship cannot end the teen's other grants: the teen decides."""
    from backend.access.service import authorize_person

    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found")
    account_id = principal.account_id
    if grant.grantee_account_id == account_id:
        new_status = LEFT
    else:
        try:
            access = authorize_person(session=session, principal=principal, person_id=grant.grantor_person_id)
        except NotFound:
            access = None
        if access is None or not (access.relation == "self" or access.manages_grants):
            raise NotFound("No such grant.", zh="授权不存在", code="grant-not-found")
        new_status = REVOKED
    if grant.status in LIVE_STATUSES:
        grant.status, grant.ended_at, grant.ended_by_account_id = new_status, utcnow(), account_id
        session.add(grant)
        audit.record(session, principal=principal, action=audit.DELETE, event_type=f"grant.{new_status}",
                     person_id=grant.grantor_person_id, object_type="grant", object_id=grant.id)
        _end_grantee_shares(session, grant=grant, principal=principal, reason=f"grant-{new_status}")
        if new_status == REVOKED:  # a relative who left knows it already
            notices.grant_ended(session, grant=grant)
    return grant


def _end_grantee_shares(session: Session, *, grant: Grant, principal: AccountPrincipal, reason: str) -> None:
    """A relative's shares end with the grant they were made under (DESIGN.md rule 8)."""
    share_rules.end_shares_created_by(session, principal=principal, account_id=grant.grantee_account_id,
                                      person_id=grant.grantor_person_id, reason=reason)
