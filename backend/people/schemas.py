"""Request and response bodies of the MPI endpoints (hospital side)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PatientRegistration(BaseModel):
    """A hospital registers (or re-registers) one of its patients: PUT is idempotent."""

    model_config = ConfigDict(extra="forbid")

    resident_id: str = Field(min_length=15, max_length=32, description="居民身份证号 (GB 11643-1999, 18 characters)")
    name: str = Field(min_length=1, max_length=64)
    sex: Literal["M", "F"] | None = Field(default=None, description="Must agree with the resident ID if given")
    birth_date: date | None = Field(default=None, description="Must agree with the resident ID if given")
    phone: str | None = Field(default=None, max_length=20, description="Mobile number for identity binding OTPs")


class PatientLinkOut(BaseModel):
    """The hospital's own link, echoing only what this request sent (masked): never the stored name, another
    hospital's phone, the verified phone, or the platform's person id (DESIGN.md rule 7)."""

    local_patient_id: str
    resident_id_masked: str
    phone_masked: str | None = Field(description="The phone this request sent, masked; it is this hospital's "
                                     "contact data and never becomes the phone for identity codes by itself")
    name: str = Field(description="The name this request sent")
    sex: str | None = Field(description="As sent, or as the resident ID number says")
    birth_date: date | None = Field(description="As sent, or as the resident ID number says")
    created: bool = Field(description="True when this request created the link")
    linked_at: datetime


class HospitalContactOut(BaseModel):
    institution_name: str
    phone_masked: str | None = Field(description="The contact phone this hospital registered (masked)")
    updated_at: datetime


class PhoneChangeOut(BaseModel):
    id: str
    phone_masked: str
    proposed_by: str = Field(description="The hospital that registered this phone")
    created_at: datetime
    effective_at: datetime | None = Field(
        description="When it becomes the verified phone unless rejected; null when it waits for your confirmation")


class ContactsOut(BaseModel):
    """Where identity codes go and who registered which phone. Every change is in the access log."""

    verified_phone: str | None = Field(description="The phone that receives identity codes (masked)")
    verified_at: datetime | None
    source: str | None = Field(description="How it was proven: first-registration, account-confirmed, "
                               "account-sms, hospitals-agree or waiting-period")
    hospitals: list[HospitalContactOut]
    pending_changes: list[PhoneChangeOut]
