"""Share tables. The token and the access code are never stored in the clear: the token as a SHA-256
lookup digest (192 random bits, so a plain digest cannot be reversed) and as AES-GCM ciphertext (for
showing the link again to the patient who made it), the code only as an argon2 hash (6 digits are
guessable offline from a plain digest; a forgotten code is reset, never shown again)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id


class Share(SQLModel, table=True):
    __tablename__ = "share"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    created_by_account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    token_digest: str = Field(max_length=64, unique=True)
    code_hash: str | None = Field(default=None, max_length=256)
    scope: str = Field(max_length=16)  # "studies" (chosen) or "range" (all imaging between two dates)
    date_from: date | None = None
    date_to: date | None = None
    include_reports: bool = True
    allow_download: bool = False
    note_cipher: bytes | None = None  # the note for the doctor, AES-GCM (may name findings)
    # Who the patient gave it to ("鼓楼医院 王医生"), shown wherever the share is named (issue 19 item 3).
    recipient: str | None = Field(default=None, max_length=64)
    # The token again, AES-GCM, so the patient can show the link and QR code once more; lookups still use
    # only the digest. NULL for shares made before (their link cannot be shown again).
    token_cipher: bytes | None = None
    expires_at: datetime = Field(index=True)
    max_opens: int | None = None
    opens: int = 0
    first_opened_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ShareStudy(SQLModel, table=True):
    """The studies a share covers, fixed at creation: a study that arrives later is not shared."""

    __tablename__ = "share_study"

    share_id: str = Field(foreign_key="share.id", primary_key=True, max_length=32)
    study_id: str = Field(foreign_key="imaging_study.id", primary_key=True, max_length=32, index=True)


class ShareSession(SQLModel, table=True):
    """One open of a share: the doctor's browser, known by a cookie whose digest is stored here."""

    __tablename__ = "share_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    share_id: str = Field(foreign_key="share.id", index=True, max_length=32)
    secret_digest: str = Field(max_length=64, unique=True)
    user_agent: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
