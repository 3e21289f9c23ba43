"""THE access policy: may this principal read this person's data, and through what?

Every route that touches a person's data depends on :func:`authorize_person` (through the
``ReadablePerson`` dependency in ``backend/api/deps.py``); no router or service checks ownership
inline. A person the principal may not see raises NotFound, exactly like a person that does not
exist, so ids cannot be probed. The answer, a :class:`PersonAccess`, carries how access was obtained
(self, grant, share …) and its limits, and is what audit events are written from.

The policy reads the binding and family-grant (and later share) tables directly: it sits just above the
models and below every service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import (
    AccountPrincipal,
    InstitutionPrincipal,
    OperatorPrincipal,
    Principal,
    SharePrincipal,
)
from backend.auth.models import Binding
from backend.errors import NotFound
from backend.family import rules as family_rules
from backend.family.models import ACTIVE, GUARDIAN, LIVE_STATUSES, Grant
from backend.people.models import Person
from backend.sharing import rules as share_rules
from backend.sharing.models import Share, ShareStudy

SELF = "self"


@dataclass(frozen=True, slots=True)
class PersonAccess:
    """A positive access decision for one principal and one person."""

    person_id: str
    principal: Principal
    relation: str  # "self", a grant's relationship, "share", "institution", "operator"
    via_grant_id: str | None = None
    via_share_id: str | None = None
    kinds: frozenset[str] | None = None  # record kinds readable; None = every kind
    study_ids: frozenset[str] | None = None  # for shares: exactly these studies; None = not limited
    hidden_refs: frozenset[str] = frozenset()  # records the person hid from this relative (issue 19 item 4)
    may_share: bool = False
    may_grant: bool = False
    guardian: bool = False  # through a guardianship of a minor (may read the access log)
    # A guardian of a child under 14 manages the child's grants; from 14 the teen decides (PIPL art. 31):
    # once the teen has confirmed the guardian, the guardian reads like any relative.
    manages_grants: bool = False
    reports: bool = True  # False: a share made without reports (study detail / report.pdf leave them out)

    def allows_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def audit(
        self,
        session: Session,
        *,
        event_type: str,
        action: str = audit.READ,
        object_type: str | None = None,
        object_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            session,
            principal=self.principal,
            action=action,
            event_type=event_type,
            person_id=self.person_id,
            via_grant_id=self.via_grant_id,
            via_share_id=self.via_share_id,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )


def bound_person_id(session: Session, *, account_id: str) -> str | None:
    """The person an account is bound to as "self", if any."""
    row = session.exec(
        select(Binding.person_id).where(Binding.account_id == account_id, Binding.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    return row


def _live_grants(session: Session, *, account_id: str, person_id: str | None = None) -> list[Grant]:
    query = select(Grant).where(Grant.grantee_account_id == account_id, col(Grant.status).in_(LIVE_STATUSES))
    if person_id is not None:
        query = query.where(Grant.grantor_person_id == person_id)
    return list(session.exec(query.order_by(col(Grant.created_at))).all())


def _account_access(session: Session, principal: AccountPrincipal, person_id: str) -> PersonAccess | None:
    if bound_person_id(session, account_id=principal.account_id) == person_id:
        return PersonAccess(person_id=person_id, principal=principal, relation=SELF, may_share=True, may_grant=True)
    # A family grant, checked on every request: revocation, expiry and the ward's 14th/18th birthday
    # act on the very next request (family/rules.py computes the status now, with its clock).
    for grant in _live_grants(session, account_id=principal.account_id, person_id=person_id):
        if family_rules.effective_status(grant) == ACTIVE:
            return PersonAccess(
                person_id=person_id, principal=principal, relation=grant.relationship, via_grant_id=grant.id,
                kinds=family_rules.scope_kinds(grant.scope, grant.kinds), may_share=grant.may_share,
                hidden_refs=family_rules.hidden_refs(grant.hidden_refs),
                may_grant=grant.may_grant, guardian=grant.kind == GUARDIAN,
                manages_grants=grant.kind == GUARDIAN and family_rules.ward_under_consent_age(grant),
            )
    return None


def creator_may_share(session: Session, share: Share) -> bool:
    """DESIGN.md rule 8: may the account that made this share still share what it covers — its
    binding to the person alive, or a live grant with ``may_share`` whose scope covers imaging? Read on
    every request through the share, so a revoked grant, a withdrawn binding, an expired grant and a
    ward's 18th birthday end the creator's shares at once."""
    decision = _account_access(session, AccountPrincipal(share.created_by_account_id), share.person_id)
    return decision is not None and decision.may_share and decision.allows_kind(share_rules.SHARED_KIND)


def live_share(session: Session, *, share_id: str, session_id: str) -> Share | None:
    """The share behind a share session while it, its session and its creator's authority all hold."""
    share = share_rules.session_share(session, share_id=share_id, session_id=session_id)
    if share is None or not creator_may_share(session, share):
        return None
    return share


def share_status(session: Session, share: Share) -> str:
    """The share's status as doctors meet it: ended like a withdrawal once its creator may not share."""
    status = share_rules.status(share)
    if status != share_rules.REVOKED and not creator_may_share(session, share):
        return share_rules.REVOKED
    return status


def _share_access(session: Session, principal: SharePrincipal, person_id: str) -> PersonAccess | None:
    """A doctor's share session reads exactly its share's person and studies, only imaging, never
    writes (the resolver refuses unsafe methods), and only while the share is live and its creator
    may still share it: the rows are read on every request, so a revocation ends open sessions."""
    share = live_share(session, share_id=principal.share_id, session_id=principal.session_id)
    if share is None or share.person_id != person_id:
        return None
    return PersonAccess(
        person_id=person_id, principal=principal, relation="share", via_share_id=share.id,
        kinds=frozenset({share_rules.SHARED_KIND}), study_ids=share_rules.study_ids(session, share_id=share.id),
        reports=share.include_reports,
    )


def authorize_person(*, session: Session, principal: Principal, person_id: str) -> PersonAccess:
    """Decide, or raise NotFound. The only place that answers this question."""
    decision: PersonAccess | None = None
    if isinstance(principal, AccountPrincipal):
        decision = _account_access(session, principal, person_id)
    elif isinstance(principal, OperatorPrincipal):
        decision = PersonAccess(person_id=person_id, principal=principal, relation="operator")
    elif isinstance(principal, SharePrincipal):
        decision = _share_access(session, principal, person_id)
    # An account's or a share's decision rests on a binding, grant or share row naming this person, and
    # each of those columns is a foreign key to person (persons are never deleted): the person exists, and
    # reading its row again was one more statement on every request (issue 18). An operator's decision
    # rests on nothing, so it still looks.
    if decision is None or (decision.relation == "operator" and session.get(Person, person_id) is None):
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    return decision


def people_for_account(*, session: Session, account_id: str) -> list[tuple[str, str]]:
    """Every person this account may act for, as (person_id, relation): its bound "self" first.
    The family issue adds grant relations here, so every caller (``/api/v1/me`` …) follows."""
    people: list[tuple[str, str]] = []
    own = bound_person_id(session, account_id=account_id)
    if own is not None:
        people.append((own, SELF))
    for grant in _live_grants(session, account_id=account_id):
        # relation as seen from the account: a grant whose grantee is the grantor's child lists a "parent"
        if family_rules.effective_status(grant) == ACTIVE and grant.grantor_person_id not in {p for p, _ in people}:
            people.append((grant.grantor_person_id, family_rules.inverse_relation(grant.relationship)))
    return people


def accounts_for_person(*, session: Session, person_id: str, kind: str | None = None,
                        ref_id: str | None = None) -> list[tuple[str, str]]:
    """Every account that may read this person's records, as (account_id, relation) — who gets told
    when a new record arrives. Relatives count while their grant is active and its scope covers
    ``kind`` (without a kind: only relatives whose scope is every kind, so a lab-only proxy never
    learns that an imaging study exists), and not if the person hid the record ``ref_id`` from them
    (issue 19 item 4: even a content-free notice would say the hidden record exists)."""
    rows = session.exec(
        select(Binding.account_id).where(Binding.person_id == person_id, Binding.revoked_at.is_(None))  # type: ignore[union-attr]
    ).all()
    found = [(account_id, SELF) for account_id in rows]
    grants = session.exec(
        select(Grant).where(Grant.grantor_person_id == person_id, col(Grant.status).in_(LIVE_STATUSES))
    ).all()
    for grant in grants:
        kinds = family_rules.scope_kinds(grant.scope, grant.kinds)
        covered = kinds is None or (kind is not None and kind in kinds)
        hidden = ref_id is not None and ref_id in family_rules.hidden_refs(grant.hidden_refs)
        if covered and not hidden and family_rules.effective_status(grant) == ACTIVE:
            found.append((grant.grantee_account_id, grant.relationship))
    return found


def dicomweb_study_filter(*, session: Session, principal: Principal) -> ColumnElement[bool]:
    """THE answer to "which studies may this principal see through DICOMweb (QIDO/WADO)": a SQL
    condition on ``imaging_study``. A hospital sees exactly what it uploaded; a live share session
    exactly its share's studies of its person (the share, its session and its creator's authority
    checked now, as for every other read); everyone else nothing."""
    from backend.studies.models import Study  # access sits above the models; imported late to stay light

    if isinstance(principal, InstitutionPrincipal):
        return col(Study.institution_id) == principal.institution_id
    if isinstance(principal, SharePrincipal):
        share = live_share(session, share_id=principal.share_id, session_id=principal.session_id)
        if share is None:
            return false()
        shared = select(ShareStudy.study_id).where(col(ShareStudy.share_id) == share.id)
        return col(Study.id).in_(shared) & (col(Study.person_id) == share.person_id)
    return false()
