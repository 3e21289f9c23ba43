"""Identity binding: an account proves it is a person the hospitals registered (name + resident ID +
a code sent to the phone a hospital registered), and gives separate consent (PIPL art. 28-29).

No oracle: for a resident ID nobody has (or a name that does not match) the answer has the same
status and shape — a stable, plausible masked phone derived from an HMAC — and no SMS goes out; the
same argon2 hashing happens either way so timing does not tell either. Rate limits are keyed by the
resident ID's blind index whether or not a person has it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth.models import Binding, BindingOtp, Consent
from backend.auth.shared_state import SharedState
from backend.auth.sms import SmsSender
from backend.config import Settings
from backend.crypto import blind_index, decrypt, hash_secret, verify_secret
from backend.errors import BadRequest, Conflict, Forbidden, ServiceUnavailable, TooManyRequests, Unprocessable
from backend.ids import utcnow
from backend.people.models import Person
from backend.people.resident_id import ResidentId, ResidentIdError, parse_resident_id

OTP_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RATE_WINDOW = timedelta(hours=1)
ACCOUNT_LIMIT = 5  # codes per account per hour
TARGET_LIMIT = 5  # codes per resident ID per hour (across all accounts)
MIN_SELF_AGE = 14  # younger persons are bound by a guardian (family access)
CONSENT_VERSION = "2026-11"
CONSENT_PURPOSE = "view-own-health-records"


@dataclass(frozen=True, slots=True)
class OtpSent:
    masked_phone: str
    expires_in: int


def mask_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
    return digits[:3] + "****" + digits[-4:] if len(digits) == 11 else "*" * len(digits)


def mask_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_account_name(name: str) -> str:
    """A relative's name in the person's lists (grants, access history): the first character and at most
    two stars. A WeChat nickname runs long ("张小明（演示·家属）"), and a star per hidden character would
    give its length away and read badly; "张**" says "masked" just as well. 张伟 -> 张*, as mask_name."""
    return mask_name(name)[:3]


def _fake_masked_phone(settings: Settings, target_index: str) -> str:
    digest = hmac.new(settings.secret_bytes("blind_index_key"), f"decoy-phone:{target_index}".encode(),
                      hashlib.sha256).digest()
    second = "3456789"[digest[0] % 7]
    return f"1{second}{digest[1] % 10}****{int.from_bytes(digest[2:6], 'big') % 10000:04d}"


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
        raise Unprocessable("请填写姓名 (name is required).", code="name-invalid")
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
) -> OtpSent:
    rid = _parse(resident_id, today)
    cleaned = _clean_name(name)
    if _age(rid.birth_date, today or date.today()) < MIN_SELF_AGE:
        raise Forbidden("未满14周岁，请由监护人绑定 (under 14: a guardian binds).", code="guardian-required")
    if _already_bound(session, account_id):
        raise Conflict("该微信已绑定本人身份 (this account is already bound).", code="already-bound")
    if not sms.available:  # checked before any lookup: the answer must not depend on the person
        raise ServiceUnavailable("短信服务未配置 (no SMS provider is configured).", code="sms-unavailable")
    index = _target_index(settings, rid)
    if not state.hit(f"otp:account:{account_id}", window=RATE_WINDOW, limit=ACCOUNT_LIMIT, session=session) or (
        not state.hit(f"otp:target:{index}", window=RATE_WINDOW, limit=TARGET_LIMIT, session=session)
    ):
        raise TooManyRequests("获取验证码过于频繁，请稍后再试 (too many codes requested).", code="otp-rate-limited")
    person = session.exec(select(Person).where(Person.resident_id_index == index)).first()
    matched = person is not None and person.phone_cipher is not None and person.name.strip() == cleaned
    code = f"{secrets.randbelow(10**6):06d}"
    otp = BindingOtp(
        account_id=account_id, target_index=index, person_id=person.id if matched and person else None,
        code_hash=hash_secret(code), expires_at=utcnow() + OTP_TTL,
    )
    session.add(otp)
    principal = AccountPrincipal(account_id)
    if matched and person is not None and person.phone_cipher is not None:
        phone = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)
        text = f"【云影】您的验证码为{code}，10分钟内有效，用于绑定本人身份。如非本人操作请忽略。"
        sms.send(session=session, phone=phone, text=text, code=code)
        masked = mask_phone(phone)
    else:
        masked = _fake_masked_phone(settings, index)
    audit.record(
        session, principal=principal, action=audit.EXECUTE, event_type="binding.otp",
        person_id=person.id if matched and person else None, object_type="binding_otp", object_id=otp.id,
    )
    return OtpSent(masked_phone=masked, expires_in=int(OTP_TTL.total_seconds()))


def confirm(
    session: Session, *, settings: Settings, account_id: str, name: str, resident_id: str, otp: str,
    consent_version: str, today: date | None = None,
) -> Binding:
    rid = _parse(resident_id, today)
    cleaned = _clean_name(name)
    if consent_version != CONSENT_VERSION:
        raise Unprocessable(
            "请阅读并同意最新的《个人健康信息处理同意书》(consent to the current policy is required).",
            code="consent-required", consent_version=CONSENT_VERSION,
        )
    if len(otp) != 6 or not otp.isascii() or not otp.isdigit():
        raise Unprocessable("验证码为6位数字 (the code has 6 digits).", code="otp-malformed")
    index = _target_index(settings, rid)
    row = session.exec(
        select(BindingOtp)
        .where(
            BindingOtp.account_id == account_id, BindingOtp.target_index == index,
            col(BindingOtp.consumed_at).is_(None), col(BindingOtp.expires_at) > utcnow(),
        )
        .order_by(col(BindingOtp.created_at).desc())
    ).first()
    if row is None:
        raise BadRequest("验证码错误或已过期 (wrong or expired code).", code="otp-invalid", attempts_left=0)
    if row.attempts >= MAX_ATTEMPTS:
        raise TooManyRequests("尝试次数过多，请重新获取验证码 (too many attempts).", code="otp-locked")
    row.attempts += 1
    session.add(row)
    # The attempt counts even though the request may fail below: commit it now.
    session.commit()
    if not verify_secret(otp, row.code_hash) or row.person_id is None:
        left = MAX_ATTEMPTS - row.attempts
        if left <= 0:
            raise TooManyRequests("尝试次数过多，请重新获取验证码 (too many attempts).", code="otp-locked")
        raise BadRequest("验证码错误或已过期 (wrong or expired code).", code="otp-invalid", attempts_left=left)
    person = session.get(Person, row.person_id)
    if person is None or person.name.strip() != cleaned:
        raise BadRequest("验证码错误或已过期 (wrong or expired code).", code="otp-invalid", attempts_left=0)
    if _already_bound(session, account_id):
        raise Conflict("该微信已绑定本人身份 (this account is already bound).", code="already-bound")
    other = session.exec(
        select(Binding.id).where(Binding.person_id == person.id, col(Binding.revoked_at).is_(None))
    ).first()
    if other is not None:
        raise Conflict("该身份已被其他微信绑定 (this person is bound to another account).", code="person-already-bound")
    row.consumed_at = utcnow()
    session.add(row)
    binding = Binding(account_id=account_id, person_id=person.id)
    consent = Consent(account_id=account_id, person_id=person.id, policy_version=consent_version,
                      purpose=CONSENT_PURPOSE)
    session.add(binding)
    session.add(consent)
    session.flush()
    principal = AccountPrincipal(account_id)
    audit.record(session, principal=principal, action=audit.CREATE, event_type="binding.create",
                 person_id=person.id, object_type="binding", object_id=binding.id)
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
    return True


def consents(session: Session, *, account_id: str) -> list[Consent]:
    return list(session.exec(
        select(Consent).where(Consent.account_id == account_id).order_by(col(Consent.granted_at).desc())
    ).all())
