"""Identity binding: an account proves it is a person the hospitals registered (name + resident ID +
a code sent to the person's *verified* phone, people/contacts.py), and gives separate consent
(PIPL art. 28-29).

No oracle (DESIGN.md rule 7): the code request answers exactly the same — status, shape, text — for
a registered resident ID with the right name, with a wrong name, and for one nobody has, and shows no
phone digits before proof; only the real owner's phone receives anything. The same argon2 hashing
happens either way so timing does not tell either. Limits count the requesting account and address,
never the person asked about: strangers asking for someone cannot lock that someone out. Guessing
stays bounded: a code is bound to the account that asked for it, 5 tries each (an atomic counter).
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth import codes
from backend.auth.models import Binding, Consent
from backend.auth.sms import SmsSender
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import blind_index
from backend.errors import BadRequest, Conflict, Forbidden, ServiceUnavailable, Unprocessable
from backend.people import contacts
from backend.people.models import Person
from backend.people.resident_id import ResidentId, ResidentIdError, parse_resident_id
from backend.shared_state import SharedState
from backend.sharing import rules as share_rules

MIN_SELF_AGE = 14  # younger persons are bound by a guardian (family access)
CONSENT_VERSION = "2026-11"
CONSENT_PURPOSE = "view-own-health-records"


def _parse(resident_id: str, today: date | None = None) -> ResidentId:
    try:
        return parse_resident_id(resident_id, today=today)
    except ResidentIdError as exc:
        raise Unprocessable(
            f"{exc.message_zh} ({exc.message_en}).", code="resident-id-invalid", problem=str(exc.problem)
        ) from None


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 64:
        raise Unprocessable("Name is required.", zh="请填写姓名", code="name-invalid")
    return cleaned


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _target_index(settings: Settings, rid: ResidentId) -> str:
    return blind_index(key=settings.secret_bytes("blind_index_key"), value=rid.number, purpose="resident_id")


def _already_bound(session: Session, account_id: str) -> bool:
    found = session.exec(
        select(Binding.id).where(Binding.account_id == account_id, col(Binding.revoked_at).is_(None))
    ).first()
    return found is not None


def request_otp(
    session: Session, *, settings: Settings, state: SharedState, sms: SmsSender, account_id: str, name: str,
    resident_id: str, today: date | None = None,
) -> codes.OtpSent:
    rid = _parse(resident_id, today)
    cleaned = _clean_name(name)
    if _age(rid.birth_date, today or date.today()) < MIN_SELF_AGE:
        raise Forbidden("Under 14: a guardian binds.", zh="未满14周岁，请由监护人绑定", code="guardian-required")
    if _already_bound(session, account_id):
        raise Conflict("This account is already bound.", zh="该微信已绑定本人身份", code="already-bound")
    if not sms.available:  # checked before any lookup: the answer must not depend on the person
        raise ServiceUnavailable("No SMS provider is configured.", zh="短信服务未配置", code="sms-unavailable")
    codes.check_code_limits(session, state=state, scope="otp", account_id=account_id)
    index = _target_index(settings, rid)
    person = session.exec(select(Person).where(Person.resident_id_index == index)).first()
    phone = None
    if person is not None and person.name.strip() == cleaned:
        phone = contacts.verified_phone(session, settings=settings, sms=sms, person=person)
    code, otp = codes.issue_code(session, account_id=account_id, target_index=index,
                           person_id=person.id if person is not None and phone else None)
    if person is not None and phone:
        text = f"【云影】您的验证码为{code}，10分钟内有效，用于绑定本人身份。如非本人操作请忽略。"
        sms.send(session=session, phone=phone, text=text, code=code)
    audit.record(
        session, principal=AccountPrincipal(account_id), action=audit.EXECUTE, event_type="binding.otp",
        person_id=otp.person_id, object_type="binding_otp", object_id=otp.id,
    )
    return codes.OtpSent(expires_in=int(codes.OTP_TTL.total_seconds()))


def confirm(
    session: Session, *, settings: Settings, account_id: str, name: str, resident_id: str, otp: str,
    consent_version: str, today: date | None = None,
) -> Binding:
    rid = _parse(resident_id, today)
    cleaned = _clean_name(name)
    check_consent(consent_version)
    row = codes.redeem_code(session, account_id=account_id, target_index=_target_index(settings, rid), otp=otp)
    person = session.get(Person, row.person_id)
    if person is None or person.name.strip() != cleaned:
        raise BadRequest("Wrong or expired code.", zh="验证码错误或已过期", code="otp-invalid", attempts_left=0)
    row.consumed_at = utcnow()
    session.add(row)
    return create_binding(session, account_id=account_id, person=person, consent_version=consent_version,
                          method="sms")


def check_consent(consent_version: str) -> None:
    if consent_version != CONSENT_VERSION:
        raise Unprocessable(
            "Consent to the current policy is required.", zh="请阅读并同意最新的《个人健康信息处理同意书》",
            code="consent-required", consent_version=CONSENT_VERSION,
        )


def create_binding(session: Session, *, account_id: str, person: Person, consent_version: str,
                   method: str) -> Binding:
    """The binding and its separate consent, once the account proved it is ``person`` (``method``)."""
    if _already_bound(session, account_id):
        raise Conflict("This account is already bound.", zh="该微信已绑定本人身份", code="already-bound")
    other = session.exec(
        select(Binding.id).where(Binding.person_id == person.id, col(Binding.revoked_at).is_(None))
    ).first()
    if other is not None:
        raise Conflict("This person is bound to another account.",
                       zh="该身份已被其他微信绑定", code="person-already-bound")
    binding = Binding(account_id=account_id, person_id=person.id)
    consent = Consent(account_id=account_id, person_id=person.id, policy_version=consent_version,
                      purpose=CONSENT_PURPOSE)
    session.add(binding)
    session.add(consent)
    session.flush()
    principal = AccountPrincipal(account_id)
    audit.record(session, principal=principal, action=audit.CREATE, event_type="binding.create",
                 person_id=person.id, object_type="binding", object_id=binding.id, detail={"method": method})
    audit.record(session, principal=principal, action=audit.CREATE, event_type="consent.grant",
                 person_id=person.id, object_type="consent", object_id=consent.id,
                 detail={"policy_version": consent_version, "purpose": CONSENT_PURPOSE})
    return binding


def withdraw(session: Session, *, account_id: str) -> bool:
    """Withdraw consent and end the binding; access stops on the next request."""
    binding = session.exec(
        select(Binding).where(Binding.account_id == account_id, col(Binding.revoked_at).is_(None))
    ).first()
    if binding is None:
        return False
    now = utcnow()
    binding.revoked_at = now
    session.add(binding)
    principal = AccountPrincipal(account_id)
    for consent in session.exec(
        select(Consent).where(Consent.account_id == account_id, Consent.person_id == binding.person_id,
                              col(Consent.withdrawn_at).is_(None))
    ).all():
        consent.withdrawn_at = now
        session.add(consent)
        audit.record(session, principal=principal, action=audit.UPDATE, event_type="consent.withdraw",
                     person_id=binding.person_id, object_type="consent", object_id=consent.id)
    audit.record(session, principal=principal, action=audit.DELETE, event_type="binding.revoke",
                 person_id=binding.person_id, object_type="binding", object_id=binding.id)
    # Consent withdrawn: the shares this account made end with it (DESIGN.md rule 8).
    share_rules.end_shares_created_by(session, principal=principal, account_id=account_id,
                                      person_id=binding.person_id, reason="binding-withdrawn")
    return True


def consents(session: Session, *, account_id: str) -> list[Consent]:
    return list(session.exec(
        select(Consent).where(Consent.account_id == account_id).order_by(col(Consent.granted_at).desc())
    ).all())
