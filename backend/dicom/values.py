"""Tolerant readers for DICOM values: a malformed value becomes None, never an exception.

Hospital data is full of "1A" in an IS, "2003.13.45" in a DA, "12:30" in a TM (ACR-NEMA style). The
index must keep everything else of such an instance, so every reader here swallows errors.
Value representations: PS3.5 §6.2 (Table 6.2-1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from math import isfinite
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from backend.dicom.jsonview import DicomJsonView

# ISO 2022 escape sequences (ESC, intermediates 0x20-0x2F, final 0x30-0x7E), PS3.5 §6.1.2.5.3.
# pydicom decodes GB 2312 (ISO 2022 IR 58) fragments but leaves the "ESC $ ) A" designators in.
_ESCAPES = re.compile("\x1b[\x20-\x2f]+[\x30-\x7e]")
_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TM = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$")


_TAGS: dict[str, tuple[BaseTag, str]] = {}  # keyword -> its tag and DICOM JSON key
Source = Dataset | DicomJsonView  # a parsed header, or the DICOM JSON the fast reader made of one
_LISTS = (list, tuple, MultiValue)


def get(ds: Source, keyword: str) -> Any:
    """The element's value, or None if absent or undecodable. By tag, not ``ds.get(keyword)``: that goes
    through ``__getattr__`` and an AttributeError for every absent keyword, and the index asks for ~70
    keywords per instance at ingest, most of them absent (issue 21: the parse stage's CPU)."""
    known = _TAGS.get(keyword)
    if known is None:
        number = tag_for_keyword(keyword)
        if number is None:
            return None
        known = _TAGS[keyword] = (BaseTag(number), f"{number:08X}")
    if isinstance(ds, DicomJsonView):
        return ds.at(known[1])
    tag = known[0]
    try:
        return ds[tag].value if tag in ds else None
    except Exception:  # noqa: BLE001 - any conversion error means "unknown"
        return None


def strip_escapes(value: str) -> str:
    return _ESCAPES.sub("", value) if "\x1b" in value else value


# The readers below test for the usual single str / int / float first: ``isinstance`` against
# MultiValue (an ABC) costs several times a test against a concrete type, and ingest reads ~70 values
# per instance (issue 21).


def text(ds: Source, keyword: str) -> str | None:
    value = get(ds, keyword)
    if value is None:
        return None
    if isinstance(value, str):
        result = value
    elif isinstance(value, _LISTS):
        result = "\\".join(str(v) for v in value)
    else:
        result = str(value)
    if "\x1b" in result:
        result = _ESCAPES.sub("", result)
    return result.strip("\x00 ") or None


def integer(ds: Source, keyword: str) -> int | None:
    value = get(ds, keyword)
    if type(value) is int:
        return value
    try:
        if value is None or value == "":
            return None
        if isinstance(value, _LISTS):
            value = value[0]
        return int(str(value).strip()) if isinstance(value, (str, bytes)) else int(value)
    except (TypeError, ValueError, IndexError):
        return None


def floats(ds: Source, keyword: str) -> tuple[float, ...] | None:
    value = get(ds, keyword)
    if value is None or value == "":
        return None
    items: Sequence[Any] = (value if not isinstance(value, (str, int, float)) and isinstance(value, _LISTS)
                            else [value])
    try:
        result = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    if not all(map(isfinite, result)):  # NaN or ±infinity
        return None
    return result or None


def number(ds: Source, keyword: str) -> float | None:
    values = floats(ds, keyword)
    return values[0] if values else None


def vector(ds: Source, keyword: str, size: int) -> tuple[float, ...] | None:
    values = floats(ds, keyword)
    return values if values is not None and len(values) == size else None


def parse_da(raw: str | None) -> date | None:
    """DA: YYYYMMDD (PS3.5 Table 6.2-1); tolerate the ACR-NEMA 'YYYY.MM.DD'."""
    if not raw:
        return None
    if len(raw) == 8 and raw.isascii() and raw.isdigit():  # the usual YYYYMMDD, without the regex
        try:
            return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            return None
    match = _DA.match(raw.strip().replace(".", "").replace("-", ""))
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_tm(raw: str | None) -> time | None:
    """TM: HH[MM[SS[.FFFFFF]]]; tolerate 'HH:MM:SS'."""
    if not raw:
        return None
    if len(raw) == 6 and raw.isascii() and raw.isdigit():  # the usual HHMMSS, without the regex
        try:
            return time(int(raw[:2]), int(raw[2:4]), min(int(raw[4:]), 59))
        except ValueError:
            return None
    match = _TM.match(raw.strip().replace(":", ""))
    if not match:
        return None
    try:
        fraction = (match[4] or "").ljust(6, "0")
        return time(int(match[1]), int(match[2] or 0), min(int(match[3] or 0), 59), int(fraction or 0))
    except ValueError:
        return None


def parse_tz(raw: str | None) -> tzinfo | None:
    """TimezoneOffsetFromUTC (0008,0201) / DT suffix: '+0800' (PS3.3 C.12.1.1)."""
    if not raw or len(raw.strip()) != 5 or raw.strip()[0] not in "+-":
        return None
    value = raw.strip()
    try:
        hours, minutes = int(value[1:3]), int(value[3:5])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    sign = 1 if value[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def combine(day: date | None, moment: time | None, zone: tzinfo) -> datetime | None:
    """Date + optional time in ``zone``; midnight when the time is missing."""
    if day is None:
        return None
    return datetime.combine(day, moment or time(0), tzinfo=zone)


def parse_dt(raw: str | None, default_zone: tzinfo) -> datetime | None:
    """DT: YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX] (PS3.5 Table 6.2-1); missing parts = their minimum."""
    if not raw:
        return None
    match = _DT.match(raw.strip())
    if not match:
        return None
    zone = parse_tz(match[8]) if match[8] else default_zone
    if zone is None:
        return None
    fraction = (match[7] or "").ljust(6, "0")
    try:
        return datetime(
            int(match[1]),
            int(match[2] or 1),
            int(match[3] or 1),
            int(match[4] or 0),
            int(match[5] or 0),
            min(int(match[6] or 0), 59),
            int(fraction or 0),
            tzinfo=zone,
        )
    except ValueError:
        return None
