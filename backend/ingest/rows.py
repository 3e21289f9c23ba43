"""Index rows from parsed headers: :mod:`backend.dicom.metadata` → :mod:`backend.studies.models`.

Pure functions (no database, no I/O). Strings are clipped to the column sizes: a PACS that sends a
300-character description must still get its instance stored (the original bytes keep the full value).
"""

from __future__ import annotations

from typing import Any

from backend.clock import utcnow
from backend.dicom.metadata import InstanceMetadata
from backend.dicom.parse import ParsedInstance
from backend.ids import new_id
from backend.studies.models import Instance, Series, Study


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


def _floats(values: tuple[float, ...] | None) -> list[float] | None:
    return [float(v) for v in values] if values else None


def study_row(meta: InstanceMetadata, *, institution_id: str, study_uid: str) -> Study:
    patient, study, series = meta.patient, meta.study, meta.series
    modalities = set(study.modalities_in_study) | ({series.modality} if series.modality else set())
    return Study(
        institution_id=institution_id,
        study_instance_uid=study_uid,
        local_patient_id=_clip(patient.patient_id, 64),
        patient_name=_clip(patient.name, 256),  # DICOM PN form: "Wang^XiaoDong=王^小东" (QIDO matches it)
        patient_sex=patient.sex if patient.sex in ("M", "F", "O") else None,
        patient_birth_date=patient.birth_date,
        study_date=study.study_date,
        study_datetime=study.study_datetime,
        accession_number=_clip(study.accession_number, 64),
        study_id=_clip(study.study_id, 64),
        description=_clip(study.description, 256),
        modalities=_clip("\\".join(sorted(modalities)), 128),
        body_part=_clip(study.body_part_examined or series.body_part_examined, 64),
        institution_name=_clip(study.institution_name, 256),
        referring_physician=_clip(study.referring_physician_name, 256),
        acquired_at=meta.acquired_at,
    )


def series_row(meta: InstanceMetadata, *, study_id: str, series_uid: str) -> Series:
    series = meta.series
    return Series(
        study_id=study_id,
        series_instance_uid=series_uid,
        series_number=series.series_number,
        description=_clip(series.description, 256),
        modality=_clip(series.modality, 16),
        body_part=_clip(series.body_part_examined, 64),
        series_datetime=series.series_datetime,
    )


def instance_values(
    parsed: ParsedInstance,
    meta: InstanceMetadata,
    *,
    institution_id: str,
    study_id: str,
    series_id: str,
    sha256: str,
    size: int,
) -> dict[str, Any]:
    """The ``imaging_instance`` row as column values, every column present (one INSERT … VALUES for a
    batch needs the same keys in every row). A dict, not an ``Instance``: building the model object set
    its ~40 attributes through SQLModel's and SQLAlchemy's instrumentation, 0.17-0.25 CPU-ms per
    instance, as much again as inserting it (docs/ingest.md, round 4)."""
    info = meta.instance
    native, encapsulated = parsed.native_pixels, parsed.encapsulated_pixels
    values: dict[str, Any] = {
        "id": new_id(),
        "institution_id": institution_id,
        "study_id": study_id,
        "series_id": series_id,
        "sop_instance_uid": parsed.sop_instance_uid,
        "sop_class_uid": parsed.sop_class_uid,
        "kind": str(info.kind),
        "instance_number": info.instance_number,
        "image_position_patient": _floats(info.image_position_patient),
        "image_orientation_patient": _floats(info.image_orientation_patient),
        "slice_location": info.slice_location,
        "slice_thickness": info.slice_thickness,
        "pixel_spacing": _floats(info.pixel_spacing),
        "rows": info.rows,
        "columns": info.columns,
        "frames": native.frames if native is not None else info.number_of_frames or (1 if info.rows else None),
        "samples_per_pixel": info.samples_per_pixel,
        "bits_allocated": info.bits_allocated,
        "bits_stored": info.bits_stored,
        "pixel_representation": info.pixel_representation,
        "planar_configuration": native.planar_configuration if native is not None else None,
        "photometric_interpretation": _clip(info.photometric_interpretation, 16),
        "window_center": _floats(info.window_center),
        "window_width": _floats(info.window_width),
        "rescale_slope": info.rescale_slope,
        "rescale_intercept": info.rescale_intercept,
        "transfer_syntax_uid": parsed.transfer_syntax_uid[:64],
        "content_datetime": info.content_datetime,
        "size": size,
        "sha256": sha256,
        "pixel_data_offset": None,
        "pixel_data_length": None,
        "pixel_encapsulated": False,
        "pixel_fragments": None,
        "pixel_basic_offsets": None,
        "received_at": utcnow(),
    }
    if native is not None:
        values["pixel_data_offset"], values["pixel_data_length"] = native.offset, native.length
    elif encapsulated is not None:
        values["pixel_encapsulated"] = True
        values["pixel_data_offset"] = encapsulated.offset
        values["pixel_fragments"] = [[offset, length] for offset, length in encapsulated.fragments]
        values["pixel_basic_offsets"] = list(encapsulated.basic_offset_table)
    return values


def instance_row(parsed: ParsedInstance, meta: InstanceMetadata, *, institution_id: str, study_id: str,
                 series_id: str, sha256: str, size: int) -> Instance:
    """:func:`instance_values` as an ``Instance`` (tests, callers outside the ingest batch)."""
    return Instance(**instance_values(parsed, meta, institution_id=institution_id, study_id=study_id,
                                      series_id=series_id, sha256=sha256, size=size))
