"""Codes that prove control of the verified phone of *someone else* (a child, an elder).

Reuses the binding machinery (``binding_otp`` rows, the SMS provider, argon2 hashes, rate limits)
with one difference that matters: the row's ``target_index`` is the resident
ID's blind index under a *family purpose*, so a code sent for guardianship can never be redeemed by
``POST /api/v1/me/binding`` (which looks rows up under the "resident_id" purpose) — a relative who
proves an elder's phone gets a proxy grant, never the elder's own identity.

No oracle, as in binding: every input gets the same answer (no phone digits at all), only the
person's verified phone (people/contacts.py) receives a code, and a confirmation for nobody fails like
a wrong code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth import binding, codes
from backend.auth.sms import SmsSender
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import blind_index, decrypt
from backend.errors import BadRequest, ServiceUnavailable
from backend.family import rules
from backend.people import contacts
from backend.people.masking import mask_phone
from backend.people.models import Person
from backend.people.resident_id import ResidentId
from backend.shared_state import SharedState

PURPOSES = {"guardian": "family-guardian", "elder": "family-elder"}
_TEXT = {
    "guardian": "【云影】您的验证码为{code}，10分钟内有效，用于以监护人身份查看未成年人的健康档案。"
                "如非本人操作请忽略。",
    "elder": "【云影】您的验证码为{code}，10分钟内有效，您的家人正申请代您查看健康档案。如非您同意，请勿告知他人。",
}


@dataclass(frozen=True, slots=True)
class Proven:
    person: Person
    rid: ResidentId
    masked_phone: str


def parse(resident_id: str) -> ResidentId:
    return binding._parse(resident_id, rules.today_cst())


def target_index(settings: Settings, rid: ResidentId, purpose: str) -> str:
    return blind_index(key=settings.secret_bytes("blind_index_key"), value=rid.number, purpose=PURPOSES[purpose])


def send_code(
    session: Session, *, settings: Settings, state: SharedState, sms: SmsSender, account_id: str, purpose: str,
    name: str, rid: ResidentId,
) -> codes.OtpSent:
    cleaned = binding._clean_name(name)
    if not sms.available:
        raise ServiceUnavailable("No SMS provider is configured.", zh="短信服务未配置", code="sms-unavailable")
    codes.check_code_limits(session, state=state, scope="family-otp", account_id=account_id)
    person = session.exec(select(Person).where(
        Person.resident_id_index == binding._target_index(settings, rid))).first()
    phone = None
    if person is not None and person.name.strip() == cleaned:
        phone = contacts.verified_phone(session, settings=settings, sms=sms, person=person)
    code, row = codes.issue_code(session, account_id=account_id, target_index=target_index(settings, rid, purpose),
                                   person_id=person.id if person is not None and phone else None)
    if person is not None and phone:
        sms.send(session=session, phone=phone, text=_TEXT[purpose].format(code=code), code=code)
    audit.record(session, principal=AccountPrincipal(account_id), action=audit.EXECUTE,
                 event_type=f"family.{purpose}_otp", person_id=row.person_id, object_type="binding_otp",
                 object_id=row.id)
    return codes.OtpSent(expires_in=int(codes.OTP_TTL.total_seconds()))


def check_code(
    session: Session, *, settings: Settings, account_id: str, purpose: str, name: str, rid: ResidentId, otp: str,
) -> Proven:
    """Verify the newest live code; the attempt is committed even when the request then fails."""
    cleaned = binding._clean_name(name)
    row = codes.redeem_code(session, account_id=account_id, target_index=target_index(settings, rid, purpose),
                              otp=otp)
    person = session.get(Person, row.person_id) if row.person_id else None
    if person is None or person.name.strip() != cleaned or person.phone_cipher is None:
        raise BadRequest("Wrong or expired code.", zh="验证码错误或已过期", code="otp-invalid", attempts_left=0)
    row.consumed_at = utcnow()
    session.add(row)
    phone = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)
    return Proven(person=person, rid=rid, masked_phone=mask_phone(phone))


def phone_of(settings: Settings, person: Person) -> str | None:
    """The verified phone (the one the code went to)."""
    if person.phone_cipher is None:
        return None
    return decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)
