"""Family proxy access as data: grants (who may read whose records, how far, until when, on what
consent) and single-use invitations.

A grant's ``relationship`` says what the grantee (a relative's account) is to the grantor (the
person whose records are read): ``child`` = "the grantee is the grantor's child" (女儿/儿子). The
``kind`` is the path the grant came by; the consent columns are the evidence PIPL art. 14/29/31
asks for (who confirmed what, when, from which account).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id

# Paths to a grant
INVITATION, REQUEST, GUARDIAN, ELDER = "invitation", "request", "guardian", "elder"
# Stored statuses. "pending": waiting for the person's (or the teenager's) confirmation. Expiry and the
# 14/18 age limits are computed on every read (see rules.py), never by a background job.
PENDING, ACTIVE, DECLINED, REVOKED, LEFT, ENDED = "pending", "active", "declined", "revoked", "left", "ended"
LIVE_STATUSES = (PENDING, ACTIVE)
# Scopes
SCOPE_ALL, SCOPE_IMAGING, SCOPE_KINDS = "all", "imaging", "kinds"


_LIVE = text("status IN ('pending', 'active')")


class Grant(SQLModel, table=True):
    __tablename__ = "family_grant"
    # No overlapping grants, enforced by the database too (two concurrent accepts or requests for the
    # same pair): at most one pending-or-active grant per (person, relative). Stale rows (expired, or
    # ended by the ward's age) are closed before a new grant is inserted (service.live_grant).
    __table_args__ = (
        Index("uq_family_grant_live_pair", "grantor_person_id", "grantee_account_id", unique=True,
              sqlite_where=_LIVE, postgresql_where=_LIVE),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    grantor_person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    grantee_account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    relationship: str = Field(max_length=16)  # spouse / parent / child / sibling / other (see rules.RELATIONSHIPS)
    kind: str = Field(max_length=16)  # invitation / request / guardian / elder
    scope: str = Field(default=SCOPE_ALL, max_length=16)
    kinds: str | None = Field(default=None, max_length=200)  # comma-separated record kinds when scope == "kinds"
    # Records the person hid from this relative (comma-separated timeline ref ids: studies, issue 19 item 4);
    # the access policy leaves them out of every read through the grant.
    hidden_refs: str | None = Field(default=None, sa_type=Text)
    expires_at: datetime | None = None
    status: str = Field(default=PENDING, max_length=16, index=True)
    may_share: bool = False
    may_grant: bool = False
    # Guardianship: the ward's birth date as read from the resident ID (GB 11643-1999 §4, digits 7-14).
    ward_birth_date: date | None = None
    # Consent evidence
    created_by_account_id: str = Field(foreign_key="account.id", max_length=32)
    consent_method: str | None = Field(default=None, max_length=32)
    consent_account_id: str | None = Field(default=None, max_length=32)  # who confirmed (None: SMS-proven)
    consent_statement: str | None = Field(default=None, max_length=500)
    consent_phone_masked: str | None = Field(default=None, max_length=16)  # the registered phone a code proved
    consented_at: datetime | None = None
    teen_confirmed_at: datetime | None = None  # the ward's own confirmation at 14-17
    teen_confirmed_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    ended_by_account_id: str | None = Field(default=None, max_length=32)


class Invitation(SQLModel, table=True):
    """A single-use link the person hands to a relative. Only the token's SHA-256 is stored."""

    __tablename__ = "family_invitation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    created_by_account_id: str = Field(foreign_key="account.id", max_length=32)
    token_digest: str = Field(max_length=64, unique=True)
    relationship: str = Field(max_length=16)
    scope: str = Field(default=SCOPE_ALL, max_length=16)
    kinds: str | None = Field(default=None, max_length=200)
    grant_expires_at: datetime | None = None
    may_share: bool = False
    may_grant: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by_account_id: str | None = Field(default=None, max_length=32)
    grant_id: str | None = Field(default=None, max_length=32)
