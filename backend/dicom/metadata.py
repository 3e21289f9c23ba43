"""What the index needs from one instance: ``extract_metadata(ds) -> InstanceMetadata``.

Usage::

    parsed = parse_instance(path=p)
    meta = extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)
    meta.patient.resident_id        # from OtherPatientIDsSequence, issuer "CN-RID" (see below)
    meta.study.study_datetime       # aware datetime, Asia/Shanghai unless the file says otherwise

Rules:

* Nothing here raises on bad values: an invalid IS/DS/DA/TM becomes None (:mod:`.values`).
* Character sets (PS3.3 C.12.1.1.2, PS3.5 §6.1): pydicom decodes ISO_IR 192 (UTF-8), GB18030, GBK,
  ISO 2022 IR 58 (GB2312 with escapes), IR 13/87 (Japanese), IR 149 (Korean). Chinese PACS often
  write the non-standard "GB2312" or nothing at all while storing GB or UTF-8 bytes: we map
  "GB2312"-like values to GB18030 (a superset), and with no (0008,0005) and non-ASCII names we try
  UTF-8, then GB18030, and record the guess in ``charset_assumed``. This may set
  SpecificCharacterSet on the in-memory dataset; the stored file stays byte-exact.
* Resident ID (居民身份证号): a hospital may carry it as an OtherPatientIDsSequence (0010,1002) item
  whose IssuerOfPatientID (0010,0021) is ``CN-RID``. It is returned raw (stripped); validating it
  (GB 11643-1999) is :mod:`backend.people.resident_id`'s job.
* Times: StudyDate+StudyTime are local times of the modality; PS3.3 C.12.1.1 lets
  TimezoneOffsetFromUTC (0008,0201) say which zone. Without it we assume Asia/Shanghai (China
  Standard Time, the province's only zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from backend.dicom import values as v
from backend.dicom.jsonview import DicomJsonView

CHINA = ZoneInfo("Asia/Shanghai")
RESIDENT_ID_ISSUER = "CN-RID"
_GB_ALIASES = frozenset({"GB2312", "GB 2312", "GB_2312", "CHINESE", "EUC-CN", "CP936"})


class InstanceKind(StrEnum):
    IMAGE = "image"
    SR = "sr"
    SEG = "seg"
    PR = "pr"
    PDF = "pdf"
    DOCUMENT = "document"
    RAW = "raw"
    WAVEFORM = "waveform"
    RT = "rt"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OtherPatientId:
    value: str
    issuer: str | None
    type_of_id: str | None


@dataclass(frozen=True, slots=True)
class PatientInfo:
    patient_id: str | None
    issuer_of_patient_id: str | None
    other_ids: tuple[OtherPatientId, ...]
    resident_id: str | None
    name: str | None  # full PN as decoded: "Wang^XiaoDong=王^小东"
    name_alphabetic: str | None
    name_ideographic: str | None
    name_phonetic: str | None
    sex: str | None  # "M" | "F" | "O"
    birth_date: date | None

    @property
    def display_name(self) -> str | None:
        """Ideographic (Chinese) name without the '^' separator if present, else alphabetic."""
        if self.name_ideographic:
            return self.name_ideographic.replace("^", "").strip() or None
        if self.name_alphabetic:
            return " ".join(p for p in self.name_alphabetic.split("^") if p).strip() or None
        return None


@dataclass(frozen=True, slots=True)
class StudyInfo:
    study_instance_uid: str | None
    study_date: date | None
    study_datetime: datetime | None
    accession_number: str | None
    study_id: str | None
    description: str | None
    modalities_in_study: tuple[str, ...]
    body_part_examined: str | None
    institution_name: str | None
    referring_physician_name: str | None
    acquisition_datetime: datetime | None


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    series_instance_uid: str | None
    series_number: int | None
    description: str | None
    modality: str | None
    body_part_examined: str | None
    series_datetime: datetime | None


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    sop_instance_uid: str | None
    sop_class_uid: str | None
    kind: InstanceKind
    instance_number: int | None
    image_position_patient: tuple[float, ...] | None
    image_orientation_patient: tuple[float, ...] | None
    slice_location: float | None
    slice_thickness: float | None
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    bits_allocated: int | None
    bits_stored: int | None
    pixel_representation: int | None
    photometric_interpretation: str | None
    samples_per_pixel: int | None
    window_center: tuple[float, ...] | None
    window_width: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    rescale_slope: float | None
    rescale_intercept: float | None
    transfer_syntax_uid: str | None
    content_datetime: datetime | None


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    patient: PatientInfo
    study: StudyInfo
    series: SeriesInfo
    instance: InstanceInfo
    specific_character_set: str | None
    charset_assumed: str | None

    @property
    def acquired_at(self) -> datetime | None:
        """Best guess of when the exam happened, for the 12-hour upload rule."""
        return (
            self.study.acquisition_datetime
            or self.series.series_datetime
            or self.study.study_datetime
            or self.instance.content_datetime
        )


# SOP Class UID prefixes -> kind (PS3.4 Annex B.5, Table B.5-1).
_KIND_PREFIXES: tuple[tuple[str, InstanceKind], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.", InstanceKind.SR),
    ("1.2.840.10008.5.1.4.1.1.66.4", InstanceKind.SEG),
    ("1.2.840.10008.5.1.4.1.1.66.", InstanceKind.OTHER),  # registration, fiducials, surface seg
    ("1.2.840.10008.5.1.4.1.1.11.", InstanceKind.PR),
    ("1.2.840.10008.5.1.4.1.1.104.1", InstanceKind.PDF),
    ("1.2.840.10008.5.1.4.1.1.104.", InstanceKind.DOCUMENT),  # CDA, STL, OBJ, MTL
    ("1.2.840.10008.5.1.4.1.1.9.", InstanceKind.WAVEFORM),
    ("1.2.840.10008.5.1.4.1.1.481.", InstanceKind.RT),
)
_RAW_DATA = "1.2.840.10008.5.1.4.1.1.66"


def classify(sop_class_uid: str | None, *, has_pixels: bool) -> InstanceKind:
    uid = sop_class_uid or ""
    if uid == _RAW_DATA:
        return InstanceKind.RAW
    for prefix, kind in _KIND_PREFIXES:
        if uid.startswith(prefix):
            return kind
    return InstanceKind.IMAGE if has_pixels else InstanceKind.OTHER


def extract_metadata(
    ds: Dataset | DicomJsonView, *, transfer_syntax_uid: str | None = None, default_zone: tzinfo = CHINA
) -> InstanceMetadata:
    """Read the index fields from ``ds`` (a header without Pixel Data is fine), or from the DICOM JSON of
    one (fastheader.py, whose reader already applied the character set repair)."""
    assumed = ds.charset_assumed if isinstance(ds, DicomJsonView) else _fix_character_set(ds)
    zone = v.parse_tz(v.text(ds, "TimezoneOffsetFromUTC")) or default_zone
    rows = v.integer(ds, "Rows")
    has_pixels = bool(rows) or any(t in ds for t in (0x7FE00010, 0x7FE00008, 0x7FE00009))
    sop_class = v.text(ds, "SOPClassUID")
    ts = transfer_syntax_uid
    if ts is None:
        meta = getattr(ds, "file_meta", None)
        ts = v.text(meta, "TransferSyntaxUID") if meta is not None else None
    return InstanceMetadata(
        patient=_patient(ds),
        study=_study(ds, zone),
        series=_series(ds, zone),
        instance=InstanceInfo(
            sop_instance_uid=v.text(ds, "SOPInstanceUID"),
            sop_class_uid=sop_class,
            kind=classify(sop_class, has_pixels=has_pixels),
            instance_number=v.integer(ds, "InstanceNumber"),
            image_position_patient=v.vector(ds, "ImagePositionPatient", 3),
            image_orientation_patient=v.vector(ds, "ImageOrientationPatient", 6),
            slice_location=v.number(ds, "SliceLocation"),
            slice_thickness=v.number(ds, "SliceThickness"),
            rows=rows,
            columns=v.integer(ds, "Columns"),
            number_of_frames=v.integer(ds, "NumberOfFrames"),
            bits_allocated=v.integer(ds, "BitsAllocated"),
            bits_stored=v.integer(ds, "BitsStored"),
            pixel_representation=v.integer(ds, "PixelRepresentation"),
            photometric_interpretation=v.text(ds, "PhotometricInterpretation"),
            samples_per_pixel=v.integer(ds, "SamplesPerPixel"),
            window_center=v.floats(ds, "WindowCenter"),
            window_width=v.floats(ds, "WindowWidth"),
            pixel_spacing=v.vector(ds, "PixelSpacing", 2),
            rescale_slope=v.number(ds, "RescaleSlope"),
            rescale_intercept=v.number(ds, "RescaleIntercept"),
            transfer_syntax_uid=ts,
            content_datetime=v.combine(
                v.parse_da(v.text(ds, "ContentDate")), v.parse_tm(v.text(ds, "ContentTime")), zone
            ),
        ),
        specific_character_set=v.text(ds, "SpecificCharacterSet"),
        charset_assumed=assumed,
    )


def _fix_character_set(ds: Dataset) -> str | None:
    """Map non-standard Chinese charset names; guess one when absent and names are not ASCII."""
    declared = v.text(ds, "SpecificCharacterSet")
    term = charset_repair(declared, _raw_bytes(ds, 0x00100010) + _raw_bytes(ds, 0x00081030)
                          + _raw_bytes(ds, 0x00080080))
    if term is not None:
        _set_charset(ds, term)
    return term


def charset_repair(declared: str | None, names: bytes) -> str | None:
    """The Specific Character Set to assume instead of ``declared`` (the (0008,0005) text), or None to keep
    it: GB18030 for the "GB2312"-like names; with none declared, ISO_IR 192 or GB18030 when ``names`` (the
    raw bytes of PatientName, StudyDescription and InstitutionName) are not ASCII and decode as such.
    Shared with the fast header reader (fastheader.py), so both paths repair alike."""
    terms = [t.strip().upper() for t in (declared or "").split("\\") if t.strip()]
    if any(t in _GB_ALIASES for t in terms):
        return "GB18030"
    if terms or not names or names.isascii():
        return None
    for name, codec in (("ISO_IR 192", "utf-8"), ("GB18030", "gb18030")):
        try:
            names.decode(codec)
        except UnicodeDecodeError:
            continue
        return name
    return None


def _set_charset(ds: Dataset, term: str) -> None:
    # pydicom decodes raw elements with the charset recorded at read time (original_encoding),
    # so both the element and the recorded read charset must change.
    ds.SpecificCharacterSet = term
    implicit, little = ds.original_encoding
    ds.set_original_encoding(implicit, little, ds._character_set)


def _raw_bytes(ds: Dataset, tag: int) -> bytes:
    try:
        element = ds.get_item(tag, keep_deferred=True)
    except Exception:  # noqa: BLE001
        return b""
    if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
        return element.value
    return b""


def _person_name(ds: v.Source, keyword: str) -> PersonName | None:
    value = v.get(ds, keyword)
    if isinstance(value, PersonName):
        return value
    return None


def _pn_group(name: PersonName | None, group: str) -> str | None:
    if name is None:
        return None
    try:
        text = v.strip_escapes(str(getattr(name, group) or ""))
    except Exception:  # noqa: BLE001
        return None
    return text.strip() or None


def _patient(ds: v.Source) -> PatientInfo:
    others: list[OtherPatientId] = []
    sequence = v.get(ds, "OtherPatientIDsSequence") or []
    try:
        for item in sequence:
            value = v.text(item, "PatientID")
            if value:
                others.append(
                    OtherPatientId(
                        value=value,
                        issuer=v.text(item, "IssuerOfPatientID"),
                        type_of_id=v.text(item, "TypeOfPatientID"),
                    )
                )
    except TypeError:
        pass
    resident = next((o.value for o in others if (o.issuer or "").strip().upper() == RESIDENT_ID_ISSUER), None)
    if resident is None and (v.text(ds, "IssuerOfPatientID") or "").upper() == RESIDENT_ID_ISSUER:
        resident = v.text(ds, "PatientID")
    name = _person_name(ds, "PatientName")
    sex = (v.text(ds, "PatientSex") or "").upper()
    return PatientInfo(
        patient_id=v.text(ds, "PatientID"),
        issuer_of_patient_id=v.text(ds, "IssuerOfPatientID"),
        other_ids=tuple(others),
        resident_id=resident.replace(" ", "").upper() if resident else None,
        name=_pn_text(name),
        name_alphabetic=_pn_group(name, "alphabetic"),
        name_ideographic=_pn_group(name, "ideographic"),
        name_phonetic=_pn_group(name, "phonetic"),
        sex=sex if sex in ("M", "F", "O") else None,
        birth_date=v.parse_da(v.text(ds, "PatientBirthDate")),
    )


def _pn_text(name: PersonName | None) -> str | None:
    if name is None:
        return None
    try:
        return v.strip_escapes(str(name)).strip() or None
    except Exception:  # noqa: BLE001
        return None


def _study(ds: v.Source, zone: tzinfo) -> StudyInfo:
    study_date = v.parse_da(v.text(ds, "StudyDate"))
    modalities = v.text(ds, "ModalitiesInStudy")
    acquisition = v.parse_dt(v.text(ds, "AcquisitionDateTime"), zone) or v.combine(
        v.parse_da(v.text(ds, "AcquisitionDate")), v.parse_tm(v.text(ds, "AcquisitionTime")), zone
    )
    return StudyInfo(
        study_instance_uid=v.text(ds, "StudyInstanceUID"),
        study_date=study_date,
        study_datetime=v.combine(study_date, v.parse_tm(v.text(ds, "StudyTime")), zone),
        accession_number=v.text(ds, "AccessionNumber"),
        study_id=v.text(ds, "StudyID"),
        description=v.text(ds, "StudyDescription"),
        modalities_in_study=tuple(m for m in (modalities or "").split("\\") if m),
        body_part_examined=v.text(ds, "BodyPartExamined"),
        institution_name=v.text(ds, "InstitutionName"),
        referring_physician_name=_pn_text(_person_name(ds, "ReferringPhysicianName")),
        acquisition_datetime=acquisition,
    )


def _series(ds: v.Source, zone: tzinfo) -> SeriesInfo:
    return SeriesInfo(
        series_instance_uid=v.text(ds, "SeriesInstanceUID"),
        series_number=v.integer(ds, "SeriesNumber"),
        description=v.text(ds, "SeriesDescription"),
        modality=v.text(ds, "Modality"),
        body_part_examined=v.text(ds, "BodyPartExamined"),
        series_datetime=v.combine(v.parse_da(v.text(ds, "SeriesDate")), v.parse_tm(v.text(ds, "SeriesTime")), zone),
    )
