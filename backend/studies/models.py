"""The imaging index: study ← series ← instance, each row pointing at a byte-exact original.

Keys (why they are what they are):

* A StudyInstanceUID is globally unique by DICOM (PS3.5 §9), but two hospitals can and do send the
  same UID (a patient's CD re-imported by a second hospital's PACS, or a vendor UID root reused).
  One hospital must never be able to append to, or read, another's study, so a study is keyed on
  ``(institution_id, study_instance_uid)``. The same holds for SOP Instance UIDs: the idempotency
  and "same UID, different bytes" rules apply per institution (``(institution_id, sop_instance_uid)``).
* A series is keyed on ``(study_id, series_instance_uid)``.
* These unique constraints are what makes concurrent uploads of one study from several clients end
  in one study and no duplicate rows: the loser of a race gets an IntegrityError and retries by
  reading the winner's row (see ``backend.ingest.service``).

The original bytes live in the blob store under a content-addressed key (``dicom/ab/cd/<sha256>``):
a crash between blob and row leaves at most an unreferenced blob, never a row without bytes, and a
different file under a known UID can never overwrite the original.

``person_id`` stays NULL while the hospital has not registered the patient (unmatched study); the
MPI hook in ``backend.ingest.matching`` fills it in when the registration arrives.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import new_id
from backend.storage.keys import original_key


class Study(SQLModel, table=True):
    __tablename__ = "imaging_study"
    __table_args__ = (UniqueConstraint("institution_id", "study_instance_uid", name="uq_study_institution_uid"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=32)
    study_instance_uid: str = Field(max_length=64, index=True)
    person_id: str | None = Field(default=None, foreign_key="person.id", index=True, max_length=32)
    matched_at: datetime | None = None

    # Patient as the header says (PatientID is the hospital's local ID, PS3.3 C.7.1.1). Name / sex /
    # birth date are shown only to the uploading institution while the study is unmatched.
    local_patient_id: str | None = Field(default=None, index=True, max_length=64)
    # Blind index of a resident ID carried in OtherPatientIDsSequence with issuer CN-RID, if valid.
    resident_id_index: str | None = Field(default=None, index=True, max_length=64)
    patient_name: str | None = Field(default=None, max_length=256)  # PN as sent: "Wang^XiaoDong=王^小东"
    patient_sex: str | None = Field(default=None, max_length=1)
    patient_birth_date: date | None = None

    study_date: date | None = Field(default=None, index=True)
    study_datetime: datetime | None = None
    accession_number: str | None = Field(default=None, index=True, max_length=64)
    study_id: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=256)
    modalities: str | None = Field(default=None, max_length=128)  # backslash-joined, sorted: "CT\\SR"
    body_part: str | None = Field(default=None, max_length=64)
    institution_name: str | None = Field(default=None, max_length=256)  # (0008,0080) as sent
    referring_physician: str | None = Field(default=None, max_length=256)

    # The 12-hour rule: when the exam happened vs. when its first instance arrived here.
    acquired_at: datetime | None = None
    first_received_at: datetime = Field(default_factory=utcnow, index=True)
    last_received_at: datetime = Field(default_factory=utcnow)

    series_count: int = 0
    instance_count: int = 0
    total_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class Series(SQLModel, table=True):
    __tablename__ = "imaging_series"
    __table_args__ = (UniqueConstraint("study_id", "series_instance_uid", name="uq_series_study_uid"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    study_id: str = Field(foreign_key="imaging_study.id", index=True, max_length=32)
    series_instance_uid: str = Field(max_length=64, index=True)
    series_number: int | None = None
    description: str | None = Field(default=None, max_length=256)
    modality: str | None = Field(default=None, max_length=16, index=True)
    body_part: str | None = Field(default=None, max_length=64)
    series_datetime: datetime | None = None
    instance_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Instance(SQLModel, table=True):
    __tablename__ = "imaging_instance"
    __table_args__ = (UniqueConstraint("institution_id", "sop_instance_uid", name="uq_instance_institution_uid"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # No index of its own: the unique (institution_id, sop_instance_uid) index leads with it (migration 0018).
    institution_id: str = Field(foreign_key="institution.id", max_length=32)
    study_id: str = Field(foreign_key="imaging_study.id", index=True, max_length=32)
    series_id: str = Field(foreign_key="imaging_series.id", index=True, max_length=32)
    sop_instance_uid: str = Field(max_length=64, index=True)
    sop_class_uid: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # image / sr / seg / pr / pdf / document / raw / waveform / rt / other
    instance_number: int | None = None

    # Geometry (PS3.3 C.7.6.2): lists of floats.
    image_position_patient: list[float] | None = _json()
    image_orientation_patient: list[float] | None = _json()
    slice_location: float | None = None
    slice_thickness: float | None = None
    pixel_spacing: list[float] | None = _json()

    # Image Pixel module (PS3.3 C.7.6.3).
    rows: int | None = None
    columns: int | None = None
    frames: int | None = None
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int | None = None
    planar_configuration: int | None = None
    photometric_interpretation: str | None = Field(default=None, max_length=16)
    # VOI LUT (C.11.2) and Modality LUT (C.11.1) values as sent.
    window_center: list[float] | None = _json()
    window_width: list[float] | None = _json()
    rescale_slope: float | None = None
    rescale_intercept: float | None = None

    transfer_syntax_uid: str = Field(max_length=64)
    content_datetime: datetime | None = None

    # The original bytes (the object key is derived from sha256: the `blob_key` property).
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    # Where Pixel Data sits in the original (renderer fast path, no pydicom re-parse):
    # native: value offset/length, frames back to back (PS3.5 §8.1.1); encapsulated: value offset
    # and the fragment list [[offset, length], ...] (PS3.5 §A.4). NULL for no pixels / deflated.
    pixel_data_offset: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    pixel_data_length: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    pixel_encapsulated: bool = False
    pixel_fragments: list[list[int]] | None = _json()
    pixel_basic_offsets: list[int] | None = _json()

    received_at: datetime = Field(default_factory=utcnow)

    @property
    def blob_key(self) -> str:
        """The original's object key, a function of its SHA-256 (storage/keys.py): not a column, 77 bytes
        a row saved (issue 17, docs/storage.md)."""
        return original_key(self.sha256)
