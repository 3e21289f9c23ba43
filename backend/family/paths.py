"""The two grant paths proven by a code to a registered phone instead of the person's own account.

- Guardianship of a minor: the guardian types the child's name and resident ID, receives a code on
  the phone the hospital registered for the child, declares the relationship. Allowed only while the
  child is under 14 (PIPL art. 31), decided from the birth date in the resident ID *before* any
  lookup, so the refusal says nothing about whether the child exists.
- Elder without a phone of their own on WeChat: the relative proves the elder's registered phone and
  records the elder's consent statement; the grant is marked ``kind = "elder"`` and the elder's phone
  receives an SMS saying so (and how to end it).
"""

from __future__ import annotations

from sqlmodel import Session

from backend.auth import codes
from backend.auth.sms import SmsSender
from backend.clock import utcnow
from backend.config import Settings
from backend.errors import Unprocessable
from backend.family import notices, otp, rules
from backend.family.models import ACTIVE, ELDER, GUARDIAN, Grant
from backend.family.service import Terms, check_terms, ensure_grantable, new_grant
from backend.shared_state import SharedState

MIN_STATEMENT = 8


def _check_guardian_age(rid: otp.ResidentId) -> None:
    if rules.age_on(rid.birth_date, rules.today_cst()) >= rules.GUARDIAN_MAX_AGE:
        raise Unprocessable(
            "From 14 the minor binds and grants access themself.", zh="年满14周岁的未成年人需本人绑定后授权",
            code="guardian-age", max_age=rules.GUARDIAN_MAX_AGE,
        )


def _check_elder_age(rid: otp.ResidentId) -> None:
    if rules.age_on(rid.birth_date, rules.today_cst()) < rules.ADULT_AGE:
        raise Unprocessable("Minors: use the guardian path.", zh="未成年人请使用监护人绑定", code="elder-age")


def send_code(session: Session, *, settings: Settings, state: SharedState, sms: SmsSender, account_id: str,
              purpose: str, name: str, resident_id: str) -> codes.OtpSent:
    rid = otp.parse(resident_id)
    _check_guardian_age(rid) if purpose == GUARDIAN else _check_elder_age(rid)
    return otp.send_code(session, settings=settings, state=state, sms=sms, account_id=account_id, purpose=purpose,
                         name=name, rid=rid)


def become_guardian(session: Session, *, settings: Settings, account_id: str, name: str, resident_id: str,
                    code: str, relationship: str) -> Grant:
    rid = otp.parse(resident_id)
    _check_guardian_age(rid)
    if relationship not in rules.GUARDIAN_RELATIONSHIPS:
        raise Unprocessable("Declare your relationship to the child.",
                            zh="请声明与孩子的关系", code="relationship-invalid",
                            allowed=sorted(rules.GUARDIAN_RELATIONSHIPS))
    proven = otp.check_code(session, settings=settings, account_id=account_id, purpose=GUARDIAN, name=name,
                            rid=rid, otp=code)
    ensure_grantable(session, person_id=proven.person.id, account_id=account_id)
    statement = f"声明为该未成年人的监护人（{rules.relationship_label(relationship)[0]}），以登记手机验证码确认"
    return new_grant(
        session, person_id=proven.person.id, account_id=account_id, terms=Terms(relationship=relationship),
        kinds=None, kind=GUARDIAN, status=ACTIVE, created_by=account_id, ward_birth_date=rid.birth_date,
        consent_method="guardian-sms", consent_account_id=account_id, consent_statement=statement,
        consent_phone_masked=proven.masked_phone, consented_at=utcnow(),
    )


def proxy_for_elder(session: Session, *, settings: Settings, sms: SmsSender, account_id: str, name: str,
                    resident_id: str, code: str, terms: Terms, statement: str) -> Grant:
    rid = otp.parse(resident_id)
    _check_elder_age(rid)
    kinds = check_terms(terms)
    cleaned = " ".join(statement.split())
    if len(cleaned) < MIN_STATEMENT:
        raise Unprocessable("Record the elder's consent statement.", zh="请记录老人的同意声明",
                            code="statement-required")
    proven = otp.check_code(session, settings=settings, account_id=account_id, purpose=ELDER, name=name, rid=rid,
                            otp=code)
    ensure_grantable(session, person_id=proven.person.id, account_id=account_id)
    grant = new_grant(
        session, person_id=proven.person.id, account_id=account_id, terms=terms, kinds=kinds, kind=ELDER,
        status=ACTIVE, created_by=account_id, consent_method="elder-sms-statement", consent_statement=cleaned,
        consent_phone_masked=proven.masked_phone, consented_at=utcnow(),
    )
    phone = otp.phone_of(settings, proven.person)
    if phone is not None and sms.available:
        notices.elder_sms(session, sms=sms, phone=phone, grant=grant)
    return grant
