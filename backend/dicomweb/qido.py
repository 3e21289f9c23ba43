"""QIDO-RS search (DICOM PS3.18 §10.6) over the index tables. No FastAPI here.

Matching (PS3.4 §C.2.2.2): single value (exact), wildcard ``*`` / ``?`` for string attributes
(case-insensitive for PN), date ranges ``YYYYMMDD-YYYYMMDD`` (either side open), UID lists
(comma or backslash separated, §C.2.2.2.2). ``limit`` / ``offset`` page the results;
``includefield=all`` (or keywords / tags) adds the optional attributes the index has.
``fuzzymatching`` is accepted and ignored (PS3.18 §8.3.4.2 allows it: the response carries a
``Warning: 299`` header). Attributes the index does not hold cannot be matched: they are ignored
with the same warning rather than silently matching everything.

Which studies a principal may search is decided by ``backend.access.service.dicomweb_study_filter``
only; this module adds no access logic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import Session, col, select

from backend.dicom.dicomjson import instance_url, study_url
from backend.dicom.metadata import CHINA as _CHINA
from backend.errors import BadRequest
from backend.studies.models import Instance, Series, Study

MAX_LIMIT = 1000
JsonObject = dict[str, Any]

# keyword -> (model column, kind) per level. kind: uid / date / str / pn / int / multi
_STUDY: dict[str, tuple[Any, str]] = {
    "StudyInstanceUID": (Study.study_instance_uid, "uid"),
    "StudyDate": (Study.study_date, "date"),
    "AccessionNumber": (Study.accession_number, "str"),
    "ModalitiesInStudy": (Study.modalities, "multi"),
    "ReferringPhysicianName": (Study.referring_physician, "pn"),
    "PatientName": (Study.patient_name, "pn"),
    "PatientID": (Study.local_patient_id, "str"),
    "StudyID": (Study.study_id, "str"),
    "StudyDescription": (Study.description, "str"),
}
_SERIES: dict[str, tuple[Any, str]] = {
    "SeriesInstanceUID": (Series.series_instance_uid, "uid"),
    "Modality": (Series.modality, "str"),
    "SeriesNumber": (Series.series_number, "int"),
    "SeriesDescription": (Series.description, "str"),
    "BodyPartExamined": (Series.body_part, "str"),
}
_INSTANCE: dict[str, tuple[Any, str]] = {
    "SOPInstanceUID": (Instance.sop_instance_uid, "uid"),
    "SOPClassUID": (Instance.sop_class_uid, "uid"),
    "InstanceNumber": (Instance.instance_number, "int"),
}
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}


@dataclass
class Query:
    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    limit: int = 100
    offset: int = 0
    include_all: bool = False
    ignored: list[str] = field(default_factory=list)


def _keyword(key: str) -> str:
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        return keyword_for_tag(int(key, 16)) or key
    if tag_for_keyword(key) is None and "." not in key:
        raise BadRequest(f"unknown query attribute {key!r}", code="qido-unknown-attribute")
    return key


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


IS_MIN, IS_MAX = -(2**31), 2**31 - 1  # PS3.5 §6.2, Integer String (SeriesNumber, InstanceNumber …)


def _condition(column: Any, kind: str, value: str) -> ColumnElement[bool]:
    if kind == "uid":
        uids = [u for u in re.split(r"[,\\]", value) if u.strip()]
        return col(column).in_([u.strip() for u in uids])
    if kind == "date":
        return _date_condition(column, value)
    if kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"{value!r} is not an integer", code="qido-bad-value") from None
        if not IS_MIN <= number <= IS_MAX:  # beyond the column's range: an OverflowError / DataError otherwise
            raise BadRequest(f"{value!r} is outside the range of an IS value (PS3.5 §6.2)", code="qido-bad-value")
        return col(column) == number
    if kind == "multi":
        options = [v for v in re.split(r"[,\\]", value) if v]
        return or_(*[col(column).like(f"%{_like(v)}%", escape="\\") for v in options])
    if kind == "pn":
        # PN values are stored as sent ("Wang^XiaoDong=王^小东"): the query may match the whole value
        # or start at any component group ("王*"); case-insensitive (PS3.4 C.2.2.2.4 allows it).
        pattern = _like(value).lower()
        lowered = func.lower(column)
        return or_(lowered.like(pattern, escape="\\"), lowered.like("%=" + pattern, escape="\\"),
                   lowered.like("%=" + pattern + "=%", escape="\\"), lowered.like(pattern + "=%", escape="\\"))
    if "*" in value or "?" in value:
        return col(column).like(_like(value), escape="\\")
    return col(column) == value


def _parse_da(text: str) -> date:
    text = text.replace("-", "") if len(text) == 10 else text
    if not re.fullmatch(r"\d{8}", text):
        raise BadRequest(f"{text!r} is not a DICOM date (YYYYMMDD)", code="qido-bad-date")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise BadRequest(f"{text!r} is not a valid date", code="qido-bad-date") from None


def _date_condition(column: Any, value: str) -> ColumnElement[bool]:
    # PS3.4 C.2.2.2.5 range matching: "A-B", "A-", "-B".
    if "-" in value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        start, _, end = value.partition("-")
        parts: list[ColumnElement[bool]] = []
        if start:
            parts.append(col(column) >= _parse_da(start))
        if end:
            parts.append(col(column) <= _parse_da(end))
        if not parts:
            raise BadRequest("empty date range", code="qido-bad-date")
        return and_(*parts)
    return col(column) == _parse_da(value)


def parse_query(params: Sequence[tuple[str, str]], *, levels: Sequence[str],
                unmatchable: frozenset[str] = frozenset()) -> Query:
    """``levels``: which attribute tables apply ("study", "series", "instance"). ``unmatchable``: keywords
    this caller may not match on (ignored with the Warning, as unsupported ones): a share session sees
    the patient's identity masked, and a match on the unmasked value would confirm a guess."""
    tables = {"study": _STUDY, "series": _SERIES, "instance": _INSTANCE}
    query = Query()
    for key, raw in params:
        value = raw.strip()
        lower = key.lower()
        if lower in _CONTROL:
            if lower == "limit":
                query.limit = _int_param(value, "limit", 1, MAX_LIMIT)
            elif lower == "offset":
                query.offset = _int_param(value, "offset", 0, 10**9)
            elif lower == "includefield":
                query.include_all = query.include_all or "all" in value.lower().split(",")
            elif value.lower() == "true":
                query.ignored.append("fuzzymatching")
            continue
        keyword = _keyword(key)
        found = next((tables[level][keyword] for level in levels if keyword in tables[level]), None)
        if found is None or keyword in unmatchable:
            query.ignored.append(keyword)
            continue
        if value == "" or value == "*":
            continue  # universal matching (C.2.2.2.3)
        query.conditions.append(_condition(found[0], found[1], value))
    return query


def _int_param(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", code="qido-bad-value") from None
    return max(low, min(number, high))


# -- DICOM JSON (PS3.18 Annex F) ------------------------------------------------------------------
def _attr(keyword: str, value: Any) -> tuple[str, JsonObject]:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    vr = dictionary_VR(tag)
    if value is None or value == "" or value == []:
        return f"{tag:08X}", {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        values = [_pn(str(v)) for v in values]
    elif vr == "DA":
        values = [v.strftime("%Y%m%d") if isinstance(v, date) else str(v) for v in values]
    return f"{tag:08X}", {"vr": vr, "Value": values}


def _pn(value: str) -> JsonObject:
    """PS3.18 F.2.2: a PN value as its component groups."""
    groups = value.split("=")
    return {name: text for name, text in zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False) if text}


def _model(pairs: list[tuple[str, Any]]) -> JsonObject:
    return dict(sorted(_attr(k, v) for k, v in pairs))


def study_json(study: Study, *, base: str, include_all: bool) -> JsonObject:
    local = study.study_datetime.astimezone(_CHINA) if study.study_datetime else None
    pairs: list[tuple[str, Any]] = [
        ("SpecificCharacterSet", "ISO_IR 192"),
        ("StudyDate", study.study_date),
        ("StudyTime", local.strftime("%H%M%S") if local else None),
        ("AccessionNumber", study.accession_number),
        ("InstanceAvailability", "ONLINE"),
        ("ModalitiesInStudy", (study.modalities or "").split("\\") if study.modalities else None),
        ("ReferringPhysicianName", study.referring_physician),
        ("RetrieveURL", study_url(base=base, study_uid=study.study_instance_uid)),
        ("PatientName", study.patient_name),
        ("PatientID", study.local_patient_id),
        ("PatientBirthDate", study.patient_birth_date),
        ("PatientSex", study.patient_sex),
        ("StudyInstanceUID", study.study_instance_uid),
        ("StudyID", study.study_id),
        ("NumberOfStudyRelatedSeries", study.series_count),
        ("NumberOfStudyRelatedInstances", study.instance_count),
    ]
    if include_all:
        pairs += [("StudyDescription", study.description), ("BodyPartExamined", study.body_part),
                  ("InstitutionName", study.institution_name)]
    return _model(pairs)


def series_json(series: Series, study: Study, *, base: str, include_all: bool) -> JsonObject:
    pairs: list[tuple[str, Any]] = [
        ("SpecificCharacterSet", "ISO_IR 192"),
        ("Modality", series.modality),
        ("SeriesDescription", series.description),
        ("SeriesNumber", series.series_number),
        ("SeriesInstanceUID", series.series_instance_uid),
        ("StudyInstanceUID", study.study_instance_uid),
        ("NumberOfSeriesRelatedInstances", series.instance_count),
        ("RetrieveURL", f"{study_url(base=base, study_uid=study.study_instance_uid)}/series/"
                        f"{series.series_instance_uid}"),
    ]
    if include_all:
        pairs += [("BodyPartExamined", series.body_part)]
    return _model(pairs)


def instance_json(instance: Instance, series: Series, study: Study, *, base: str, include_all: bool) -> JsonObject:
    pairs: list[tuple[str, Any]] = [
        ("SpecificCharacterSet", "ISO_IR 192"),
        ("SOPClassUID", instance.sop_class_uid),
        ("SOPInstanceUID", instance.sop_instance_uid),
        ("InstanceAvailability", "ONLINE"),
        ("RetrieveURL", instance_url(base=base, study_uid=study.study_instance_uid,
                                     series_uid=series.series_instance_uid, instance_uid=instance.sop_instance_uid)),
        ("InstanceNumber", instance.instance_number),
        ("Rows", instance.rows),
        ("Columns", instance.columns),
        ("BitsAllocated", instance.bits_allocated),
        ("NumberOfFrames", instance.frames),
        ("StudyInstanceUID", study.study_instance_uid),
        ("SeriesInstanceUID", series.series_instance_uid),
        ("Modality", series.modality),
    ]
    if include_all:
        pairs += [("PhotometricInterpretation", instance.photometric_interpretation),
                  ("TransferSyntaxUID", instance.transfer_syntax_uid)]
    return _model(pairs)


def search_studies(*, session: Session, access: ColumnElement[bool], query: Query) -> list[Study]:
    statement = select(Study).where(access, *query.conditions).order_by(
        col(Study.study_date).desc(), col(Study.id)
    ).offset(query.offset).limit(query.limit)
    return list(session.exec(statement).all())


def search_series(*, session: Session, access: ColumnElement[bool], query: Query) -> list[tuple[Series, Study]]:
    statement = (
        select(Series, Study).join(Study, col(Series.study_id) == col(Study.id))
        .where(access, *query.conditions)
        .order_by(col(Study.id), col(Series.series_number), col(Series.id))
        .offset(query.offset).limit(query.limit)
    )
    return [(s, st) for s, st in session.exec(statement).all()]


def search_instances(
    *, session: Session, access: ColumnElement[bool], query: Query
) -> list[tuple[Instance, Series, Study]]:
    statement = (
        select(Instance, Series, Study)
        .join(Series, col(Instance.series_id) == col(Series.id))
        .join(Study, col(Instance.study_id) == col(Study.id))
        .where(access, *query.conditions)
        .order_by(col(Series.id), col(Instance.instance_number), col(Instance.id))
        .offset(query.offset).limit(query.limit)
    )
    return [(i, s, st) for i, s, st in session.exec(statement).all()]

