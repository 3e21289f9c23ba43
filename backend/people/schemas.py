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
    """The link as stored; the resident ID and phone only ever masked."""

    local_patient_id: str
    person_id: str
    resident_id_masked: str
    phone_masked: str | None
    name: str
    sex: str | None
    birth_date: date | None
    created: bool = Field(description="True when this request created the link")
    linked_at: datetime
