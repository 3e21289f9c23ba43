"""One-time codes sent by SMS: issued, limited and redeemed the same way for every purpose (identity
binding, guardianship, elder proxy, proving a new phone).

A code is bound to the account that asked for it and to a *target* (a blind index naming what it
proves), stored only as an argon2 hash, valid 10 minutes, 5 tries. Limits count the requesting account
and the client address — never the person or phone asked about, so strangers cannot lock anyone out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.access.context import current_request
from backend.auth.models import BindingOtp
from backend.clock import utcnow
from backend.crypto import hash_secret, verify_secret
from backend.errors import BadRequest, TooManyRequests, Unprocessable
from backend.shared_state import SharedState

OTP_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RATE_WINDOW = timedelta(hours=1)
ACCOUNT_LIMIT = 5  # codes per requesting account per hour
ADDRESS_LIMIT = 30  # codes per client address per hour (a hospital's NAT holds many people)


@dataclass(frozen=True, slots=True)
class OtpSent:
    """What every code request answers, whoever was asked about: nothing but the code's lifetime."""

    expires_in: int


def check_code_limits(session: Session, *, state: SharedState, scope: str, account_id: str) -> None:
    """Per requesting account and per client address — the same check for every input."""
    address = current_request().network_address or "-"
    if not state.hit(f"{scope}:account:{account_id}", window=RATE_WINDOW, limit=ACCOUNT_LIMIT, session=session) or (
        not state.hit(f"{scope}:address:{address}", window=RATE_WINDOW, limit=ADDRESS_LIMIT, session=session)
    ):
        raise TooManyRequests("Too many codes requested.", zh="获取验证码过于频繁，请稍后再试", code="otp-rate-limited")


def issue_code(session: Session, *, account_id: str, target_index: str,
               person_id: str | None) -> tuple[str, BindingOtp]:
    """A fresh 6-digit code, stored as an argon2 hash (hashed whether or not anyone will receive it)."""
    code = f"{secrets.randbelow(10**6):06d}"
    row = BindingOtp(account_id=account_id, target_index=target_index, person_id=person_id,
                     code_hash=hash_secret(code), expires_at=utcnow() + OTP_TTL)
    session.add(row)
    session.flush()
    return code, row


def redeem_code(session: Session, *, account_id: str, target_index: str, otp: str) -> BindingOtp:
    """The newest live code of this account for this target, if ``otp`` is it; raises otherwise.

    The try is counted with a conditional UPDATE (attempts < MAX) and committed before the code is
    compared, so parallel guesses cannot exceed MAX_ATTEMPTS and a failing request still counts."""
    if len(otp) != 6 or not otp.isascii() or not otp.isdigit():
        raise Unprocessable("The code has 6 digits.", zh="验证码为6位数字", code="otp-malformed")
    row = session.exec(
        select(BindingOtp).where(
            BindingOtp.account_id == account_id, BindingOtp.target_index == target_index,
            col(BindingOtp.consumed_at).is_(None), col(BindingOtp.expires_at) > utcnow(),
        ).order_by(col(BindingOtp.created_at).desc())
    ).first()
    if row is None:
        raise BadRequest("Wrong or expired code.", zh="验证码错误或已过期", code="otp-invalid", attempts_left=0)
    counted = session.execute(update(BindingOtp).where(col(BindingOtp.id) == row.id,
                                                       col(BindingOtp.attempts) < MAX_ATTEMPTS)
                              .values(attempts=col(BindingOtp.attempts) + 1))
    session.commit()
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise TooManyRequests("Too many attempts.", zh="尝试次数过多，请重新获取验证码", code="otp-locked")
    session.refresh(row)
    if not verify_secret(otp, row.code_hash) or row.person_id is None:
        left = MAX_ATTEMPTS - row.attempts
        if left <= 0:
            raise TooManyRequests("Too many attempts.", zh="尝试次数过多，请重新获取验证码", code="otp-locked")
        raise BadRequest("Wrong or expired code.", zh="验证码错误或已过期", code="otp-invalid", attempts_left=left)
    return row
