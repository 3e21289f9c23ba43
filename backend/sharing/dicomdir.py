"""A DICOMDIR (PS3.10 §7.3, PS3.3 Annex F) built in linear time from the index rows.

pydicom's ``FileSet`` builds a correct DICOMDIR but checks every new instance against all earlier
ones (measured: 300 instances 3.4 s, 1000 instances 21 s — quadratic). Here the records come from
the database (no header parsing) and the offsets are fixed up in one pass:

1. encode the dataset with every offset 0 (UL values: sizes do not depend on them);
2. read it back: pydicom notes each sequence item's byte position (``seq_item_tell``) — exactly
   what F.3.2.2's offsets must hold (from the first byte of the file to the record's Item tag);
3. set the offsets and encode again (the same length).

Hierarchy (PS3.3 F.4): PATIENT → STUDY → SERIES → IMAGE. Only image instances get IMAGE records;
other kinds (SR, PDF, …) need record keys the index does not keep and go into the ZIP outside the
DICOMDIR.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

MEDIA_STORAGE_DIRECTORY = UID("1.2.840.10008.1.3.10")  # PS3.4 Annex B: Media Storage Directory Storage
IN_USE = 0xFFFF


@dataclass(frozen=True, slots=True)
class Entry:
    """One instance as the index knows it, and its place in the ZIP."""

    file_id: tuple[str, ...]  # ("PT000000", "ST000000", "SE000000", "IM000000"): ≤ 8 components of ≤ 8 chars
    patient_id: str
    patient_name: str
    study_uid: str
    study_date: date | None
    study_time: datetime | None
    study_id: str
    accession: str
    study_description: str
    series_uid: str
    modality: str
    series_number: int | None
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    instance_number: int | None


def _record(kind: str) -> Dataset:
    ds = Dataset()
    ds.OffsetOfTheNextDirectoryRecord = 0
    ds.RecordInUseFlag = IN_USE
    ds.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    ds.DirectoryRecordType = kind
    return ds


def _encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def build(entries: Sequence[Entry], *, fileset_id: str) -> bytes:
    """The DICOMDIR bytes for ``entries`` (ordered patient, study, series, instance)."""
    records: list[Dataset] = []
    # Tree as nested dicts of record index → children; siblings are linked by "next" offsets.
    tree: dict[int, list[int]] = {-1: []}
    seen: dict[tuple[str, ...], int] = {}

    def node(key: tuple[str, ...], parent: int, make: Dataset) -> int:
        if key not in seen:
            seen[key] = len(records)
            records.append(make)
            tree[parent].append(seen[key])
            tree[seen[key]] = []
        return seen[key]

    for e in entries:
        patient = _record("PATIENT")
        patient.PatientName, patient.PatientID = e.patient_name, e.patient_id
        p = node(("P", e.patient_id), -1, patient)
        study = _record("STUDY")
        study.StudyDate = e.study_date.strftime("%Y%m%d") if e.study_date else ""
        study.StudyTime = e.study_time.strftime("%H%M%S") if e.study_time else ""
        study.StudyDescription, study.StudyInstanceUID = e.study_description, e.study_uid
        study.StudyID, study.AccessionNumber = e.study_id, e.accession
        s = node(("P", e.patient_id, "S", e.study_uid), p, study)
        series = _record("SERIES")
        series.Modality, series.SeriesInstanceUID = e.modality, e.series_uid
        series.SeriesNumber = e.series_number if e.series_number is not None else ""
        r = node(("P", e.patient_id, "S", e.study_uid, "R", e.series_uid), s, series)
        image = _record("IMAGE")
        image.ReferencedFileID = list(e.file_id)
        image.ReferencedSOPClassUIDInFile = e.sop_class_uid
        image.ReferencedSOPInstanceUIDInFile = e.sop_instance_uid
        image.ReferencedTransferSyntaxUIDInFile = e.transfer_syntax_uid
        image.InstanceNumber = e.instance_number if e.instance_number is not None else ""
        node(("I", e.sop_instance_uid), r, image)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = fileset_id
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = DicomSequence(records)

    draft = pydicom.dcmread(io.BytesIO(_encode(ds)), force=True)
    where = [item.seq_item_tell for item in draft.DirectoryRecordSequence]
    for parent, children in tree.items():
        for this, after in itertools.pairwise(children):
            records[this].OffsetOfTheNextDirectoryRecord = where[after]
        if parent >= 0 and children:
            records[parent].OffsetOfReferencedLowerLevelDirectoryEntity = where[children[0]]
    if tree[-1]:
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = where[tree[-1][0]]
        ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = where[tree[-1][-1]]
    return _encode(ds)
