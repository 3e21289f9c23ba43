"""The header of an Explicit VR Little Endian data set read straight from its bytes into DICOM JSON.

Why (issue 21, docs/ingest.md round 3): at ingest pydicom built a ``RawDataElement`` per element, then a
``DataElement`` per element with its value converted (``MultiValue``, ``DSfloat``, ``PersonName``, a
charset lookup per text value), then the DICOM JSON of each: about a third of an instance's CPU for a CT
slice's ~60 elements. What ingest needs is the JSON of the series metadata document (PS3.18 F.2) and a
few dozen index fields, which :mod:`.jsonview` reads from that JSON. This module makes it in one pass
over the bytes, with :mod:`struct` and ``bytes.decode``.

The output is the same as ``dataset_to_json(parse_instance(...).dataset, bulk_data_uri=None)`` after
:func:`backend.dicom.metadata.extract_metadata`'s character-set repair — tests/dicom/test_fastheader.py
compares the two over every file of tests/data/dicom. Anything this reader is not sure to render the way
pydicom does raises :class:`Unusual`, and the caller parses the file with pydicom instead
(:func:`backend.dicom.parse.parse_fast`), so correctness never depends on this path:

* transfer syntaxes other than Explicit VR Little Endian (PS3.5 §A.2) and the encapsulated ones, which
  share its data set encoding (implicit VR needs the dictionary's VRs, some ambiguous; big endian and
  deflate are rare);
* VR UN, an unknown VR, an undefined length outside SQ, a value that runs past the data, an item that
  does not end where its length says (PS3.5 §7.5);
* text in a character set named in a way pydicom corrects (a misspelt term), ISO 2022 escape sequences
  (PS3.5 §6.1.2.5.3), bytes the character set cannot decode, a Specific Character Set inside an item;
* IS and DS values that are not plain numbers (PS3.5 Table 6.2-1), numbers of a length that is not a
  multiple of their size, a value over ``defer_bytes`` that is not binary.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from struct import unpack_from
from typing import Any

from pydicom.charset import python_encoding

from backend.dicom.metadata import charset_repair
from backend.dicom.pixels import PIXEL_TAGS

_ITEM = 0xFFFEE000  # PS3.5 §7.5: Item, Item Delimitation Item, Sequence Delimitation Item
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_CHARSET = 0x00080005
# PS3.5 Table 7.1-1: these VRs have a reserved field and a 4-byte length in explicit VR.
_LONG = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UR", "UT", "UV"})
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_NUMBERS = {"US": ("H", 2), "SS": ("h", 2), "UL": ("I", 4), "SL": ("i", 4), "FL": ("f", 4), "FD": ("d", 8),
            "UV": ("Q", 8), "SV": ("q", 8)}
_SPLIT_TEXT = frozenset({"SH", "LO", "UC"})  # in the character set, several values (PS3.5 §6.1.2.3)
_SINGLE_TEXT = frozenset({"ST", "LT", "UT"})  # in the character set, one value, backslash allowed
_ASCII_SPLIT = frozenset({"AS", "CS", "DA", "DT", "TM", "UI"})
_KNOWN = _LONG | frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
                            "SL", "SS", "ST", "TM", "UI", "UL", "US"})
_IS = re.compile(r"\s*[+-]?\d+\s*\Z")
_DS = re.compile(r" *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *\Z")
_DEFAULT = "iso8859"  # pydicom's default for data sets without (0008,0005); Latin-1
_INLINE_MAX = 1024  # dataset_to_json's bulk_threshold: larger binary values are left out at the top level


class Unusual(Exception):
    """Not for the fast path: parse this file with pydicom."""


class NeedMore(Exception):
    """The header goes on past the bytes given: call again with more."""


@dataclass(frozen=True, slots=True)
class _Raw:
    vr: str
    at: int
    length: int
    items: list[dict[int, _Raw]] | None


@dataclass(frozen=True, slots=True)
class Header:
    model: dict[str, Any]  # DICOM JSON (PS3.18 F.2), top-level keys sorted, Pixel Data left out
    pixel_offset: int  # where the Pixel Data element starts in ``data`` (its end when there is none)
    charset_assumed: str | None  # as InstanceMetadata.charset_assumed


def read_header(data: bytes, *, start: int, complete: bool, defer_bytes: int) -> Header:
    """DICOM JSON of the data set in ``data[start:]`` (Explicit VR Little Endian), up to Pixel Data.

    ``complete``: ``data`` runs to the end of the file (else running out of it raises :class:`NeedMore`).
    The Specific Character Set is repaired by metadata.py's rule (:func:`charset_repair`). Raises
    :class:`Unusual` for anything this reader leaves to pydicom (module docstring)."""
    reader = _Reader(data, complete=complete)
    elements, end = reader.elements(start, len(data), top=True, delimited=False)
    if not elements:
        raise Unusual("no elements")
    declared = _text_of(data, elements.get(_CHARSET))
    names = b"".join(_bytes_of(data, elements.get(tag)) for tag in (0x00100010, 0x00081030, 0x00080080))
    repaired = charset_repair(declared, names)
    # Without escape sequences pydicom decodes with the first term's codec (charset.decode_bytes), items
    # too (they read their parent's). An unknown or misspelt name only matters for non-ASCII text, where
    # decode() gives up.
    term = repaired or (declared or "").split("\\")[0]
    codec = python_encoding.get(term) if term else _DEFAULT
    model: dict[str, Any] = {}
    convert = _Converter(data, codec=codec)
    for tag, raw in elements.items():
        if raw.length > defer_bytes:
            if raw.vr in _BINARY:
                continue  # pydicom defers it; dataset_to_json without bulk URIs leaves it out
            raise Unusual("a long non-binary value or sequence")
        if raw.vr in _BINARY and raw.length > _INLINE_MAX:
            continue
        model[f"{tag:08X}"] = convert.element(raw)
    if repaired is not None:
        model["00080005"] = {"vr": "CS", "Value": [repaired]}
    return Header(model=dict(sorted(model.items())), pixel_offset=end, charset_assumed=repaired)


def read_file_meta(data: bytes, *, start: int, complete: bool) -> tuple[dict[int, str], int]:
    """The File Meta Information (group 0002, always Explicit VR Little Endian: PS3.10 §7.1) at ``start``:
    its text values by tag (padding stripped as parse.py strips them), and where the data set begins."""
    elements, end = _Reader(data, complete=complete).elements(start, len(data), top=True, delimited=False,
                                                               only_group=0x0002)
    out = {}
    for tag, raw in elements.items():
        if raw.vr in ("UI", "CS", "AE", "SH"):
            out[tag] = _bytes_of(data, raw).decode("latin-1").strip("\x00 ")
    return out, end


def _bytes_of(data: bytes, raw: _Raw | None) -> bytes:
    if raw is None or raw.items is not None:
        return b""
    return data[raw.at:raw.at + raw.length]


def _text_of(data: bytes, raw: _Raw | None) -> str | None:
    """(0008,0005) as metadata.py's ``v.text`` reads it: values joined, padding stripped."""
    if raw is None or raw.vr != "CS":
        if raw is not None:
            raise Unusual("(0008,0005) with a VR other than CS")
        return None
    value = _bytes_of(data, raw).decode("latin-1")
    if "\x1b" in value:
        raise Unusual("escape sequence in (0008,0005)")
    return value.rstrip(" \x00").strip("\x00 ") or None


class _Reader:
    """Pass 1: where each element is (PS3.5 §7.1.2, §7.5), sequences walked, nothing converted."""

    def __init__(self, data: bytes, *, complete: bool) -> None:
        self.data = data
        self.complete = complete

    def short(self) -> Exception:
        return Unusual("the data ends inside an element") if self.complete else NeedMore()

    def elements(self, pos: int, end: int, *, top: bool, delimited: bool,
                 only_group: int | None = None) -> tuple[dict[int, _Raw], int]:
        data = self.data
        out: dict[int, _Raw] = {}
        while pos < end:
            if pos + 8 > end:
                raise self.short() if end == len(data) else Unusual("an item ends inside an element header")
            group, element = unpack_from("<HH", data, pos)
            if only_group is not None and group != only_group:
                return out, pos
            tag = group << 16 | element
            if tag == _ITEM_END:
                if not delimited or unpack_from("<I", data, pos + 4)[0] != 0:
                    raise Unusual("unexpected item delimiter")
                return out, pos + 8
            if top and tag in PIXEL_TAGS:
                return out, pos
            if group == 0xFFFE:
                raise Unusual("item tag among elements")
            vr = data[pos + 4:pos + 6].decode("latin-1")
            if vr not in _KNOWN:
                raise Unusual(f"VR {vr!r}")
            if vr in _LONG:
                if pos + 12 > end:
                    raise self.short() if end == len(data) else Unusual("an item ends inside an element header")
                (length,) = unpack_from("<I", data, pos + 8)
                at = pos + 12
            else:
                (length,) = unpack_from("<H", data, pos + 6)
                at = pos + 8
            items = None
            if vr == "SQ":
                items, pos = self.sequence(at, None if length == _UNDEFINED else at + length, end)
            elif length == _UNDEFINED:
                raise Unusual("undefined length outside a sequence")
            else:
                pos = at + length
                if pos > end:
                    raise self.short() if end == len(data) else Unusual("a value runs past its item")
            if tag == _CHARSET and not top:
                raise Unusual("a Specific Character Set inside an item")
            out[tag] = _Raw(vr, at, 0 if length == _UNDEFINED else length, items)
        if delimited:
            raise self.short() if end == len(data) else Unusual("no item delimiter")
        if top and only_group is None and not self.complete:
            raise NeedMore()  # the bytes given ended between two elements: the data set may go on
        if pos != end:
            raise Unusual("elements run past their container")
        return out, pos

    def sequence(self, pos: int, stop: int | None, end: int) -> tuple[list[dict[int, _Raw]], int]:
        data = self.data
        if stop is not None and stop > end:
            raise self.short() if end == len(data) else Unusual("a sequence runs past its item")
        limit = end if stop is None else stop
        items: list[dict[int, _Raw]] = []
        while True:
            if stop is not None and pos == stop:
                return items, pos
            if pos + 8 > limit:
                raise self.short() if limit == len(data) else Unusual("a sequence ends inside an item header")
            group, element, length = unpack_from("<HHI", data, pos)
            tag = group << 16 | element
            if tag == _SEQUENCE_END and stop is None:
                return items, pos + 8
            if tag != _ITEM:
                raise Unusual("not an item inside a sequence")
            if length == _UNDEFINED:
                item, pos = self.elements(pos + 8, limit, top=False, delimited=True)
            else:
                if pos + 8 + length > limit:
                    raise self.short() if limit == len(data) else Unusual("an item runs past its sequence")
                item, pos = self.elements(pos + 8, pos + 8 + length, top=False, delimited=False)
            items.append(item)


class _Converter:
    """Pass 2: each element's DICOM JSON, as pydicom's ``DataElement.to_json_dict`` renders its value."""

    def __init__(self, data: bytes, *, codec: str | None) -> None:
        self.data = data
        self.codec = codec

    def element(self, raw: _Raw) -> dict[str, Any]:
        vr = raw.vr
        if raw.items is not None:
            return {"vr": "SQ", "Value": [self.item(item) for item in raw.items]}
        if raw.length == 0:
            return {"vr": vr}
        value = self.data[raw.at:raw.at + raw.length]
        if vr in _BINARY:
            return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
        number = _NUMBERS.get(vr)
        if number is not None:
            code, size = number
            if raw.length % size:
                raise Unusual("a number of the wrong length")
            return {"vr": vr, "Value": list(unpack_from(f"<{raw.length // size}{code}", value))}
        if vr == "AT":
            if raw.length % 4:
                raise Unusual("AT of the wrong length")
            pairs = unpack_from(f"<{raw.length // 2}H", value)
            return {"vr": vr, "Value": [f"{pairs[i] << 16 | pairs[i + 1]:08X}" for i in range(0, len(pairs), 2)]}
        values = self.strings(vr, value)
        if len(values) == 1 and not values[0]:
            return {"vr": vr}  # pydicom: an empty value has VM 0, no "Value"
        if vr == "PN":
            return {"vr": vr, "Value": [_person_name(name) for name in values]}
        if vr == "IS":
            if not all(_IS.match(item) for item in values):
                raise Unusual("IS not an integer")
            return {"vr": vr, "Value": [int(item) for item in values]}
        if vr == "DS":
            if not all(_DS.match(item) for item in values):
                raise Unusual("DS not a decimal")
            return {"vr": vr, "Value": [float(item) for item in values]}
        return {"vr": vr, "Value": values}

    def item(self, item: dict[int, _Raw]) -> dict[str, Any]:
        return {f"{tag:08X}": self.element(raw) for tag, raw in item.items()}

    def strings(self, vr: str, value: bytes) -> list[str]:
        """pydicom's values.py converters, by VR (PS3.5 Table 6.2-1: which padding is significant)."""
        if vr in _ASCII_SPLIT:
            return value.decode("latin-1").rstrip(" \x00").split("\\")
        if vr == "DS":
            return value.decode("latin-1").strip().rstrip(" \x00").split("\\")
        if vr == "IS":
            return value.decode("latin-1").rstrip(" \x00").split("\\")
        if vr == "AE":
            return [item.strip() for item in value.decode("latin-1").split("\\")]
        if vr == "UR":
            return [value.decode("latin-1").rstrip()]
        if vr == "PN":
            value = value.rstrip(b"\x00 ")
        text = self.decode(value)
        if vr in _SINGLE_TEXT:
            return [text.rstrip("\x00 ")]
        if vr == "PN":
            return text.split("\\")
        return [item.rstrip("\x00 ") for item in text.split("\\")]  # SH, LO, UC

    def decode(self, value: bytes) -> str:
        if b"\x1b" in value:
            raise Unusual("ISO 2022 escape sequence")
        if value.isascii():
            return value.decode("ascii")
        if self.codec is None:
            raise Unusual("non-ASCII text in a character set pydicom would correct or does not know")
        try:
            return value.decode(self.codec)
        except (UnicodeError, LookupError) as exc:
            raise Unusual("text the character set cannot decode") from exc


def _person_name(name: str) -> dict[str, str]:
    """PS3.18 F.2.2: component groups Alphabetic=Ideographic=Phonetic; like pydicom's PersonName, empty
    trailing groups are dropped and empty leading ones kept."""
    groups = name.rstrip("=").split("=")
    if len(groups) > 3 or not name.rstrip("="):
        raise Unusual("PN with more than three component groups, or none")
    out = {"Alphabetic": groups[0]}
    if len(groups) > 1:
        out["Ideographic"] = groups[1]
    if len(groups) > 2:
        out["Phonetic"] = groups[2]
    return out
