"""Request and response bodies of the family-access API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field


class TermsIn(BaseModel):
    relationship: str = Field(min_length=1, max_length=16, description="what the relative is to the person: "
                              "spouse, parent, child, sibling, grandparent, grandchild, guardian, other")
    scope: str = Field(default="all", max_length=16, description="all | imaging | kinds")
    kinds: list[str] = Field(default_factory=list, max_length=10, description="record kinds when scope = kinds")
    expires_at: AwareDatetime | None = Field(default=None, description="optional end of the grant (with a time zone)")
    may_share: bool = False
    may_grant: bool = False


class InvitationOut(BaseModel):
    id: str
    url: str  # open in WeChat; single use, 24 h
    token: str
    qr_svg: str  # data:image/svg+xml URI of the URL as a QR code
    expires_at: datetime


class InvitationPreview(BaseModel):
    person_name: str  # masked
    relationship: str
    relationship_label: str
    scope: str
    kinds: list[str]
    grant_expires_at: datetime | None
    expires_at: datetime
    status: str  # open / used / expired


class RequestIn(TermsIn):
    name: str = Field(min_length=1, max_length=64)
    resident_id: str = Field(min_length=1, max_length=32)


class RequestOut(BaseModel):
    status: str = "sent"
    message: str = "如信息无误，对方将收到您的申请 (if the details match, the person is asked to confirm)."


class ProveIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    resident_id: str = Field(min_length=1, max_length=32)


class GuardianIn(ProveIn):
    otp: str = Field(min_length=1, max_length=16)
    relationship: str = Field(min_length=1, max_length=16)


class ElderIn(TermsIn):
    name: str = Field(min_length=1, max_length=64)
    resident_id: str = Field(min_length=1, max_length=32)
    otp: str = Field(min_length=1, max_length=16)
    consent_statement: str = Field(min_length=1, max_length=500)


class ConsentEvidence(BaseModel):
    method: str | None
    account_id: str | None
    statement: str | None
    phone_masked: str | None
    at: datetime | None
    teen_confirmed_at: datetime | None


class GrantOut(BaseModel):
    id: str
    person_id: str
    person_name: str  # masked
    grantee_account_id: str
    grantee_name: str | None  # masked
    relationship: str
    relationship_label: str
    relationship_label_en: str
    kind: str  # invitation / request / guardian / elder
    scope: str
    kinds: list[str]
    expires_at: datetime | None
    status: str  # effective now: pending / active / expired / ended / revoked / left / declined
    may_share: bool
    may_grant: bool
    created_at: datetime
    ended_at: datetime | None
    consent: ConsentEvidence
    hidden_study_ids: list[str] = Field(default_factory=list, description="records the person hid from this relative")
    last_viewed_at: datetime | None = Field(default=None, description="when the relative last looked (the person's "
                                            "side only)")


class VisibilityIn(BaseModel):
    """What one relative sees (issue 19 item 4): record kinds, and records hidden one by one."""

    scope: str = Field(default="all", max_length=16, description="all | imaging | kinds")
    kinds: list[str] = Field(default_factory=list, max_length=10)
    hidden_study_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list,
                                                                                       max_length=500)
