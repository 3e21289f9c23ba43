"""Request and response bodies of the account API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AccountOut(BaseModel):
    id: str
    nickname: str | None
    subscribed: bool
    created_at: datetime


class PersonRef(BaseModel):
    id: str
    relation: str  # "self", or a grant's relationship
    name: str  # masked, e.g. 张*
    masked_name: str
    sex: str | None = None
    birth_year: int | None = None


class MeOut(BaseModel):
    account: AccountOut
    bound: bool
    person: PersonRef | None
    people: list[PersonRef]
    consent_version: str  # the policy version binding needs consent to


class OtpIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    resident_id: str = Field(min_length=1, max_length=32)


class OtpOut(BaseModel):
    """The same answer for every input: whether the name and resident ID match a registered person is
    never revealed, and no phone digits are shown before the code proves the phone (no oracle)."""

    expires_in: int = Field(description="Seconds the code (if one was sent) stays valid")


class BindingIn(OtpIn):
    otp: str = Field(min_length=1, max_length=16)
    consent_version: str = Field(min_length=1, max_length=32)


class BindingOut(BaseModel):
    id: str
    person_id: str
    created_at: datetime


class ConsentOut(BaseModel):
    id: str
    person_id: str
    policy_version: str
    purpose: str
    granted_at: datetime
    withdrawn_at: datetime | None
    withdraw_url: str  # DELETE here withdraws (and ends the binding)


class JsSdkConfigOut(BaseModel):
    appId: str
    timestamp: int
    nonceStr: str
    signature: str


class PhoneIn(BaseModel):
    phone: str = Field(min_length=5, max_length=20, description="An 11-digit mainland mobile number")


class PhoneConfirmIn(PhoneIn):
    otp: str = Field(min_length=1, max_length=16)


class RealnameBindingIn(OtpIn):
    verify_result: str = Field(min_length=1, max_length=128,
                               description="From WeChat's requestWxFacePictureVerify JSAPI (人脸核身)")
    consent_version: str = Field(min_length=1, max_length=32)
