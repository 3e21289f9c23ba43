"""Codes that prove control of the phone a hospital registered for *someone else* (a child, an elder).

Reuses the binding machinery (``binding_otp`` rows, the SMS provider, argon2 hashes, rate limits,
the HMAC decoy phone) with one difference that matters: the row's ``target_index`` is the resident
ID's blind index under a *family purpose*, so a code sent for guardianship can never be redeemed by
``POST /api/v1/me/binding`` (which looks rows up under the "resident_id" purpose) — a relative who
proves an elder's phone gets a proxy grant, never the elder's own identity.

No oracle, as in binding: a resident ID nobody has gets the same answer (a stable decoy masked
phone), no SMS goes out, and the confirmation later fails like a wrong code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth import binding
from backend.auth.models import BindingOtp
from backend.auth.shared_state import SharedState
from backend.auth.sms import SmsSender
from backend.config import Settings
from backend.crypto import blind_index, decrypt, hash_secret, verify_secret
from backend.errors import BadRequest, ServiceUnavailable, TooManyRequests, Unprocessable
from backend.family import rules
from backend.ids import utcnow
from backend.people.models import Person
from backend.people.resident_id import ResidentId

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
) -> binding.OtpSent:
    cleaned = binding._clean_name(name)
    if not sms.available:
        raise ServiceUnavailable("短信服务未配置 (no SMS provider is configured).", code="sms-unavailable")
    index = target_index(settings, rid, purpose)
    if not state.hit(f"family-otp:account:{account_id}", window=binding.RATE_WINDOW, limit=binding.ACCOUNT_LIMIT,
                     session=session) or not state.hit(f"family-otp:target:{index}", window=binding.RATE_WINDOW,
                                                       limit=binding.TARGET_LIMIT, session=session):
        raise TooManyRequests("获取验证码过于频繁，请稍后再试 (too many codes requested).", code="otp-rate-limited")
    person_index = binding._target_index(settings, rid)
    person = session.exec(select(Person).where(Person.resident_id_index == person_index)).first()
    matched = person is not None and person.phone_cipher is not None and person.name.strip() == cleaned
    code = f"{secrets.randbelow(10**6):06d}"
    row = BindingOtp(account_id=account_id, target_index=index,
                     person_id=person.id if matched and person else None,
                     code_hash=hash_secret(code), expires_at=utcnow() + binding.OTP_TTL)
    session.add(row)
    if matched and person is not None and person.phone_cipher is not None:
        phone = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)
        sms.send(session=session, phone=phone, text=_TEXT[purpose].format(code=code), code=code)
        masked = binding.mask_phone(phone)
    else:
        masked = binding._fake_masked_phone(settings, index)
    audit.record(session, principal=AccountPrincipal(account_id), action=audit.EXECUTE,
                 event_type=f"family.{purpose}_otp", person_id=person.id if matched and person else None,
                 object_type="binding_otp", object_id=row.id)
    return binding.OtpSent(masked_phone=masked, expires_in=int(binding.OTP_TTL.total_seconds()))


def check_code(
    session: Session, *, settings: Settings, account_id: str, purpose: str, name: str, rid: ResidentId, otp: str,
) -> Proven:
    """Verify the newest live code; the attempt is committed even when the request then fails."""
    cleaned = binding._clean_name(name)
    if len(otp) != 6 or not otp.isascii() or not otp.isdigit():
        raise Unprocessable("验证码为6位数字 (the code has 6 digits).", code="otp-malformed")
    index = target_index(settings, rid, purpose)
    row = session.exec(
        select(BindingOtp).where(
            BindingOtp.account_id == account_id, BindingOtp.target_index == index,
            col(BindingOtp.consumed_at).is_(None), col(BindingOtp.expires_at) > utcnow(),
        ).order_by(col(BindingOtp.created_at).desc())
    ).first()
    if row is None:
        raise BadRequest("验证码错误或已过期 (wrong or expired code).", code="otp-invalid", attempts_left=0)
    if row.attempts >= binding.MAX_ATTEMPTS:
        raise TooManyRequests("尝试次数过多，请重新获取验证码 (too many attempts).", code="otp-locked")
    row.attempts += 1
    session.add(row)
    session.commit()
    person = session.get(Person, row.person_id) if row.person_id else None
    if not verify_secret(otp, row.code_hash) or person is None or person.name.strip() != cleaned:
        left = binding.MAX_ATTEMPTS - row.attempts
        if left <= 0:
            raise TooManyRequests("尝试次数过多，请重新获取验证码 (too many attempts).", code="otp-locked")
        raise BadRequest("验证码错误或已过期 (wrong or expired code).", code="otp-invalid", attempts_left=left)
    row.consumed_at = utcnow()
    session.add(row)
    phone = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher or b"")
    return Proven(person=person, rid=rid, masked_phone=binding.mask_phone(phone))


def phone_of(settings: Settings, person: Person) -> str | None:
    if person.phone_cipher is None:
        return None
    return decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)

