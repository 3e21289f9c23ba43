"""A bound account proves a new phone for its person: a code goes to the NEW phone; entering it makes
that phone the verified phone (people/contacts.py, "account-sms"). Relatives cannot: only the
person's own bound account changes where identity codes go."""

from __future__ import annotations

from sqlmodel import Session

from backend.access.service import bound_person_id
from backend.auth import codes
from backend.auth.sms import SmsSender
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import blind_index
from backend.errors import BadRequest, Forbidden, ServiceUnavailable, Unprocessable
from backend.people import contacts
from backend.people.masking import normalize_phone
from backend.people.models import Person
from backend.shared_state import SharedState

PURPOSE = "own-phone"


def _person(session: Session, account_id: str) -> Person:
    person_id = bound_person_id(session, account_id=account_id)
    person = session.get(Person, person_id) if person_id else None
    if person is None:
        raise Forbidden("Bind your identity first.", zh="请先绑定本人身份", code="binding-required")
    return person


def _mobile(phone: str) -> str:
    digits = normalize_phone(phone)
    if len(digits) != 11 or not digits.isdigit() or not digits.startswith("1"):
        raise Unprocessable("An 11-digit mainland mobile number.", zh="请输入11位手机号", code="phone-invalid")
    return digits


def _target(settings: Settings, person: Person, phone: str) -> str:
    return blind_index(key=settings.secret_bytes("blind_index_key"), value=f"{person.id}:{phone}", purpose=PURPOSE)


def send_code(session: Session, *, settings: Settings, state: SharedState, sms: SmsSender, account_id: str,
              phone: str) -> codes.OtpSent:
    person = _person(session, account_id)
    number = _mobile(phone)
    if not sms.available:
        raise ServiceUnavailable("No SMS provider is configured.", zh="短信服务未配置", code="sms-unavailable")
    codes.check_code_limits(session, state=state, scope="own-phone", account_id=account_id)
    code, _ = codes.issue_code(session, account_id=account_id, target_index=_target(settings, person, number),
                               person_id=person.id)
    sms.send(session=session, phone=number, code=code,
             text=f"【云影】您的验证码为{code}，10分钟内有效，用于把此号码设为接收身份验证码的手机。如非本人操作请忽略。")
    return codes.OtpSent(expires_in=int(codes.OTP_TTL.total_seconds()))


def confirm(session: Session, *, settings: Settings, sms: SmsSender, account_id: str, phone: str, otp: str) -> None:
    person = _person(session, account_id)
    number = _mobile(phone)
    row = codes.redeem_code(session, account_id=account_id, target_index=_target(settings, person, number), otp=otp)
    if row.person_id != person.id:
        raise BadRequest("Wrong or expired code.", zh="验证码错误或已过期", code="otp-invalid", attempts_left=0)
    row.consumed_at = utcnow()
    session.add(row)
    contacts.prove_own(session, settings=settings, sms=sms, person=person, account_id=account_id, phone=number)
