"""What the API shows of grants: the grant with its parties' masked names and its consent evidence."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from backend.auth.models import Account, Binding
from backend.family import rules
from backend.family.models import Grant
from backend.family.schemas import ConsentEvidence, GrantOut
from backend.people.masking import mask_account_name, mask_name
from backend.people.models import Person


def account_name(session: Session, account_id: str) -> str | None:
    person_id = session.exec(select(Binding.person_id).where(
        Binding.account_id == account_id, Binding.revoked_at.is_(None))).first()  # type: ignore[union-attr]
    person = session.get(Person, person_id) if person_id else None
    if person is not None:
        return mask_account_name(person.name)
    account = session.get(Account, account_id)
    return mask_account_name(account.nickname) if account and account.nickname else None


def grant_out(session: Session, grant: Grant, *, last_viewed_at: datetime | None = None) -> GrantOut:
    person = session.get(Person, grant.grantor_person_id)
    zh, en = rules.relationship_label(grant.relationship)
    return GrantOut(
        id=grant.id, person_id=grant.grantor_person_id, person_name=mask_name(person.name) if person else "",
        grantee_account_id=grant.grantee_account_id, grantee_name=account_name(session, grant.grantee_account_id),
        relationship=grant.relationship, relationship_label=zh, relationship_label_en=en, kind=grant.kind,
        scope=grant.scope, kinds=[k for k in (grant.kinds or "").split(",") if k], expires_at=grant.expires_at,
        status=rules.effective_status(grant), may_share=grant.may_share, may_grant=grant.may_grant,
        created_at=grant.created_at, ended_at=grant.ended_at,
        consent=ConsentEvidence(method=grant.consent_method, account_id=grant.consent_account_id,
                                statement=grant.consent_statement, phone_masked=grant.consent_phone_masked,
                                at=grant.consented_at, teen_confirmed_at=grant.teen_confirmed_at),
        hidden_study_ids=sorted(rules.hidden_refs(grant.hidden_refs)), last_viewed_at=last_viewed_at,
    )
