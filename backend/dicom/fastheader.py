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
* elements out of ascending tag order, or repeated (PS3.5 §7.1);
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
from struct import Struct, unpack_from
from typing import Any

from pydicom.charset import python_encoding

from backend.dicom.metadata import charset_repair
from backend.dicom.pixels import PIXEL_TAGS

_ITEM = 0xFFFEE000  # PS3.5 §7.5: Item, Item Delimitation Item, Sequence Delimitation Item
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_CHARSET = 0x00080005
# What the character set repair reads (metadata.charset_repair), in its order: PatientName,
# StudyDescription, InstitutionName.
_NAMES = (0x00100010, 0x00081030, 0x00080080)

# How each VR's value turns into DICOM JSON (pydicom's values.py converters, PS3.5 Table 6.2-1: which
# padding is significant). Small ints, tested in the order of how often they occur in a CT or MR header.
_DS, _SPLIT, _ASCII, _NUMBER, _IS, _PN, _SINGLE, _AE, _UR, _AT, _BINARY, _SQ = range(12)
_TEXT_KINDS = (_SPLIT, _PN, _SINGLE)  # decoded in the data set's character set (PS3.5 §6.1.2.3)
# The VR as it stands in the file -> (VR, a 4-byte length with a reserved field before it (PS3.5 Table
# 7.1-1), kind). Keyed by the two bytes so an element's header is one struct unpack and one lookup;
# UN and any other VR are not here: they go to pydicom.
_VRS: dict[bytes, tuple[str, bool, int]] = {
    b"AE": ("AE", False, _AE), b"AS": ("AS", False, _ASCII), b"AT": ("AT", False, _AT),
    b"CS": ("CS", False, _ASCII), b"DA": ("DA", False, _ASCII), b"DS": ("DS", False, _DS),
    b"DT": ("DT", False, _ASCII), b"FL": ("FL", False, _NUMBER), b"FD": ("FD", False, _NUMBER),
    b"IS": ("IS", False, _IS), b"LO": ("LO", False, _SPLIT), b"LT": ("LT", False, _SINGLE),
    b"OB": ("OB", True, _BINARY), b"OD": ("OD", True, _BINARY), b"OF": ("OF", True, _BINARY),
    b"OL": ("OL", True, _BINARY), b"OV": ("OV", True, _BINARY), b"OW": ("OW", True, _BINARY),
    b"PN": ("PN", False, _PN), b"SH": ("SH", False, _SPLIT), b"SL": ("SL", False, _NUMBER),
    b"SQ": ("SQ", True, _SQ), b"SS": ("SS", False, _NUMBER), b"ST": ("ST", False, _SINGLE),
    b"SV": ("SV", True, _NUMBER), b"TM": ("TM", False, _ASCII), b"UC": ("UC", True, _SPLIT),
    b"UI": ("UI", False, _ASCII), b"UL": ("UL", False, _NUMBER), b"UR": ("UR", True, _UR),
    b"US": ("US", False, _NUMBER), b"UT": ("UT", True, _SINGLE), b"UV": ("UV", True, _NUMBER),
}
_NUMBERS = {"US": ("H", 2), "SS": ("h", 2), "UL": ("I", 4), "SL": ("i", 4), "FL": ("f", 4), "FD": ("d", 8),
            "UV": ("Q", 8), "SV": ("q", 8)}
_ONE_NUMBER = {vr: Struct(f"<{code}") for vr, (code, _) in _NUMBERS.items()}  # the usual VM 1, precompiled
_HEAD = Struct("<HH2sH")  # tag, VR, 2-byte length (PS3.5 §7.1.2)
_LONG_LENGTH = Struct("<I")
_ITEM_HEAD = Struct("<HHI")  # an item's tag and length (PS3.5 §7.5)
# One match over the whole value instead of one per backslash-separated item: the same items, as the
# separators are outside the item pattern (PS3.5 Table 6.2-1, and what pydicom's IS and DS accept).
_IS_ITEM = r"\s*[+-]?\d+\s*"
_DS_ITEM = r" *[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)? *"
_IS_VALUE = re.compile(rf"{_IS_ITEM}(?:\\{_IS_ITEM})*\Z")
_DS_VALUE = re.compile(rf"{_DS_ITEM}(?:\\{_DS_ITEM})*\Z")
_DEFAULT = "iso8859"  # pydicom's default for data sets without (0008,0005); Latin-1
_INLINE_MAX = 1024  # dataset_to_json's bulk_threshold: larger binary values are left out at the top level
_META_TEXT = frozenset({"UI", "CS", "AE", "SH"})
_KEYS: dict[int, str] = {}  # tag -> its DICOM JSON key, for the tags met so far (bounded below)
_KEYS_MAX = 8192


class Unusual(Exception):
    """Not for the fast path: parse this file with pydicom."""


class NeedMore(Exception):
    """The header goes on past the bytes given: call again with more, and with ``resume`` to carry on
    from the first top-level element not read whole instead of reading the others again."""

    def __init__(self, resume: _Progress | None = None) -> None:
        super().__init__()
        self.resume = resume


class _Progress:
    """What :class:`_Reader` had read of a data set when its bytes ran out (see :class:`NeedMore`)."""

    __slots__ = ("charset", "model", "names", "pending", "pos", "previous")

    def __init__(self, reader: _Reader, *, pos: int, previous: int, model: dict[str, Any]) -> None:
        self.pos = pos  # where the first top-level element not read whole starts
        self.previous = previous  # the tag before it
        self.model = model  # the top-level elements before it
        self.charset, self.names, self.pending = reader.charset, reader.names, reader.pending


@dataclass(frozen=True, slots=True)
class Header:
    model: dict[str, Any]  # DICOM JSON (PS3.18 F.2), top-level keys sorted, Pixel Data left out
    pixel_offset: int  # where the Pixel Data element starts in ``data`` (its end when there is none)
    charset_assumed: str | None  # as InstanceMetadata.charset_assumed


def read_header(data: bytes, *, start: int, complete: bool, defer_bytes: int,
                resume: _Progress | None = None) -> Header:
    """DICOM JSON of the data set in ``data[start:]`` (Explicit VR Little Endian), up to Pixel Data.

    ``complete``: ``data`` runs to the end of the file (else running out of it raises :class:`NeedMore`).
    ``resume``: the :class:`NeedMore` of the previous call, on a prefix of this ``data``. The Specific
    Character Set is repaired by metadata.py's rule (:func:`charset_repair`). Raises :class:`Unusual` for
    anything this reader leaves to pydicom (module docstring)."""
    reader = _Reader(data, complete=complete, defer_bytes=defer_bytes)
    if resume is None:
        model, end = reader.elements(start, len(data), top=True, delimited=False)
    else:  # a header over the first read's 64 KiB (MR with private headers): its start is not read twice
        reader.charset, reader.names, reader.pending = resume.charset, resume.names, resume.pending
        model, end = reader.elements(resume.pos, len(data), top=True, delimited=False, model=resume.model,
                                     previous=resume.previous)
    if end == start:  # each element read moves past it, a skipped one too
        raise Unusual("no elements")
    declared = _charset_text(reader.charset)
    names = b"".join(reader.names.get(tag, b"") for tag in _NAMES)
    repaired = charset_repair(declared, names)
    # Without escape sequences pydicom decodes with the first term's codec (charset.decode_bytes), items
    # too (they read their parent's). An unknown or misspelt name only matters for non-ASCII text, where
    # decode() gives up.
    term = repaired or (declared or "").split("\\")[0]
    codec = python_encoding.get(term) if term else _DEFAULT
    for container, key, kind, vr, value in reader.pending:
        if kind == _PN:  # pydicom strips PN's padding before decoding it
            value = value.rstrip(b"\x00 ")
        container[key] = _text_element(kind, vr, _decode(value, codec))
    if repaired is not None:
        if "00080005" not in model:  # the tags are in ascending order (checked): keep them so
            model["00080005"] = {"vr": "CS", "Value": [repaired]}
            return Header(model=dict(sorted(model.items())), pixel_offset=end, charset_assumed=repaired)
        model["00080005"] = {"vr": "CS", "Value": [repaired]}
    return Header(model=model, pixel_offset=end, charset_assumed=repaired)


def read_file_meta(data: bytes, *, start: int, complete: bool) -> tuple[dict[int, str], int]:
    """The File Meta Information (group 0002, always Explicit VR Little Endian: PS3.10 §7.1) at ``start``:
    its text values by tag (padding stripped as parse.py strips them), and where the data set begins.
    PS3.10 Table 7.1-1 has no sequence in it: one is left to pydicom."""
    out: dict[int, str] = {}
    pos, end = start, len(data)
    while pos < end:
        if pos + 8 > end:
            raise Unusual("the data ends inside an element") if complete else NeedMore()
        group, element, vr_bytes, length = _HEAD.unpack_from(data, pos)
        if group != 0x0002:
            break
        known = _VRS.get(vr_bytes)
        if known is None or known[2] == _SQ:
            raise Unusual(f"VR {vr_bytes!r} in the File Meta Information")
        vr, long, _ = known
        at = pos + 8
        if long:
            if pos + 12 > end:
                raise Unusual("the data ends inside an element") if complete else NeedMore()
            (length,) = _LONG_LENGTH.unpack_from(data, pos + 8)
            if length == _UNDEFINED:
                raise Unusual("undefined length outside a sequence")
            at = pos + 12
        pos = at + length
        if pos > end:
            raise Unusual("the data ends inside an element") if complete else NeedMore()
        if vr in _META_TEXT:
            out[group << 16 | element] = data[at:pos].decode("latin-1").strip("\x00 ")
    return out, pos


def _charset_text(raw: tuple[str, bytes] | None) -> str | None:
    """(0008,0005) as metadata.py's ``v.text`` reads it: values joined, padding stripped."""
    if raw is None:
        return None
    vr, value = raw
    if vr != "CS":
        raise Unusual("(0008,0005) with a VR other than CS")
    text = value.decode("latin-1")
    if "\x1b" in text:
        raise Unusual("escape sequence in (0008,0005)")
    return text.rstrip(" \x00").strip("\x00 ") or None


class _Reader:
    """One pass over the bytes (PS3.5 §7.1.2, §7.5): each element's DICOM JSON as pydicom's
    ``DataElement.to_json_dict`` renders it, made as the element is met.

    Why one pass and no intermediate record per element (round 6 of docs/ingest.md): the reader ran at
    ~6 µs per element, most of it Python overhead per element — a dataclass per element, a second loop,
    a method call per value. The one thing a value cannot be converted without is the character set,
    which its repair (metadata.charset_repair) decides only once PatientName is read: text that is not
    ASCII (the only text whose decoding depends on it) is kept in ``pending`` and decoded at the end.
    """

    def __init__(self, data: bytes, *, complete: bool, defer_bytes: int) -> None:
        self.data = data
        self.complete = complete
        self.defer_bytes = defer_bytes
        self.charset: tuple[str, bytes] | None = None  # (0008,0005): its VR and bytes
        self.names: dict[int, bytes] = {}  # the top-level _NAMES' bytes
        # non-ASCII text: where its JSON goes, its kind, VR and bytes
        self.pending: list[tuple[dict[str, Any], str, int, str, bytes]] = []

    def short(self, end: int, inner: str) -> Exception:
        """Running out of bytes: the end of the data (more may follow), or of an item (a broken file)."""
        if end != len(self.data):
            return Unusual(inner)
        return Unusual("the data ends inside an element") if self.complete else NeedMore()

    def elements(self, pos: int, end: int, *, top: bool, delimited: bool, model: dict[str, Any] | None = None,
                 previous: int = -1) -> tuple[dict[str, Any], int]:
        """The elements from ``pos`` to ``end`` (an item's, or the data set's when ``top``) as DICOM JSON, and
        where they end; ``model`` and ``previous``: the top-level elements read before ``pos``, the last tag."""
        data = self.data
        defer_bytes = self.defer_bytes
        out: dict[str, Any] = {} if model is None else model
        start, before, pending_mark = pos, previous, -1
        try:
            while pos < end:
                start, before, pending_mark = pos, previous, -1  # locals: free next to the element's work
                if pos + 8 > end:
                    raise self.short(end, "an item ends inside an element header")
                group, element, vr_bytes, length = _HEAD.unpack_from(data, pos)
                tag = group << 16 | element
                if group == 0xFFFE:
                    if tag != _ITEM_END or not delimited or _LONG_LENGTH.unpack_from(data, pos + 4)[0] != 0:
                        raise Unusual("an item tag among elements, or an unexpected item delimiter")
                    return out, pos + 8
                if top and tag in PIXEL_TAGS:
                    return out, pos
                # PS3.5 §7.1: ascending order, each tag once. pydicom sorts and drops duplicates; a file
                # that needs either is not for this reader.
                if tag <= previous:
                    raise Unusual("elements out of order, or repeated")
                previous = tag
                known = _VRS.get(vr_bytes)
                if known is None:
                    raise Unusual(f"VR {vr_bytes!r}")
                vr, long, kind = known
                at = pos + 8
                if long:
                    if pos + 12 > end:
                        raise self.short(end, "an item ends inside an element header")
                    (length,) = _LONG_LENGTH.unpack_from(data, pos + 8)
                    at = pos + 12
                key = _KEYS.get(tag) or _key(tag)
                if kind == _SQ:
                    if tag == _CHARSET:
                        raise Unusual("(0008,0005) with a VR other than CS")
                    if top and defer_bytes < length != _UNDEFINED:
                        raise Unusual("a long sequence")
                    pending_mark = len(self.pending)  # what a half-read sequence's items add goes
                    items, pos = self.sequence(at, None if length == _UNDEFINED else at + length, end)
                    out[key] = {"vr": "SQ", "Value": items}
                    continue
                if length == _UNDEFINED:
                    raise Unusual("undefined length outside a sequence")
                pos = at + length
                if pos > end:
                    raise self.short(end, "a value runs past its item")
                if top:
                    if tag == _CHARSET:
                        self.charset = (vr, data[at:pos])
                    elif tag in _NAMES:
                        self.names[tag] = data[at:pos]
                    if kind == _BINARY:
                        if length > _INLINE_MAX or length > defer_bytes:
                            continue  # dataset_to_json leaves it out (pydicom deferred it if over defer_bytes)
                    elif length > defer_bytes:
                        raise Unusual("a long non-binary value")
                elif tag == _CHARSET:
                    raise Unusual("a Specific Character Set inside an item")
                if not length:
                    out[key] = {"vr": vr}  # pydicom: an empty value has VM 0, no "Value"
                elif kind in _TEXT_KINDS:
                    value = data[at:pos]
                    if b"\x1b" in value:
                        raise Unusual("ISO 2022 escape sequence")
                    if value.isascii():
                        out[key] = _text_element(kind, vr, value.decode("ascii"))
                    else:
                        out[key] = None  # keeps its place; decoded once the character set is known
                        self.pending.append((out, key, kind, vr, value))
                else:
                    out[key] = _value(kind, vr, data, at, length)
        except NeedMore as exc:
            if top and exc.resume is None:  # carry on from the element that ran out of bytes, next time
                if pending_mark >= 0:
                    del self.pending[pending_mark:]
                exc.resume = _Progress(self, pos=start, previous=before, model=out)
            raise
        if delimited:
            raise self.short(end, "no item delimiter")
        if top and not self.complete:  # the bytes given ended between two elements: the data set may go on
            raise NeedMore(_Progress(self, pos=pos, previous=previous, model=out))
        if pos != end:
            raise Unusual("elements run past their container")
        return out, pos

    def sequence(self, pos: int, stop: int | None, end: int) -> tuple[list[dict[str, Any]], int]:
        data = self.data
        if stop is not None and stop > end:
            raise self.short(end, "a sequence runs past its item")
        limit = end if stop is None else stop
        items: list[dict[str, Any]] = []
        while True:
            if stop is not None and pos == stop:
                return items, pos
            if pos + 8 > limit:
                raise self.short(limit, "a sequence ends inside an item header")
            group, element, length = _ITEM_HEAD.unpack_from(data, pos)
            tag = group << 16 | element
            if tag == _SEQUENCE_END and stop is None:
                return items, pos + 8
            if tag != _ITEM:
                raise Unusual("not an item inside a sequence")
            if length == _UNDEFINED:
                item, pos = self.elements(pos + 8, limit, top=False, delimited=True)
            else:
                if pos + 8 + length > limit:
                    raise self.short(limit, "an item runs past its sequence")
                item, pos = self.elements(pos + 8, pos + 8 + length, top=False, delimited=False)
            items.append(item)


def _key(tag: int) -> str:
    """The DICOM JSON key of ``tag`` ("0020000D"); remembered, as a header repeats the same few dozen."""
    key = _KEYS.get(tag)
    if key is None:
        key = f"{tag:08X}"
        if len(_KEYS) < _KEYS_MAX:  # a hostile file's private tags must not grow it without bound
            _KEYS[tag] = key
    return key


def _value(kind: int, vr: str, data: bytes, at: int, length: int) -> dict[str, Any]:
    """The DICOM JSON of a value that is not text in the character set, ``length`` > 0 bytes at ``at``."""
    if kind == _DS:
        text = data[at:at + length].decode("latin-1").strip().rstrip(" \x00")
        if not text:
            return {"vr": vr}
        if not _DS_VALUE.match(text):
            raise Unusual("DS not a decimal")
        return {"vr": vr, "Value": [float(item) for item in text.split("\\")]}
    if kind == _ASCII:
        text = data[at:at + length].decode("latin-1").rstrip(" \x00")
        return {"vr": vr, "Value": text.split("\\")} if text else {"vr": vr}
    if kind == _NUMBER:
        code, size = _NUMBERS[vr]
        if length == size:
            return {"vr": vr, "Value": list(_ONE_NUMBER[vr].unpack_from(data, at))}
        if length % size:
            raise Unusual("a number of the wrong length")
        return {"vr": vr, "Value": list(unpack_from(f"<{length // size}{code}", data, at))}
    if kind == _IS:
        text = data[at:at + length].decode("latin-1").rstrip(" \x00")
        if not text:
            return {"vr": vr}
        if not _IS_VALUE.match(text):
            raise Unusual("IS not an integer")
        return {"vr": vr, "Value": [int(item) for item in text.split("\\")]}
    if kind == _BINARY:
        return {"vr": vr, "InlineBinary": base64.b64encode(data[at:at + length]).decode("ascii")}
    if kind == _AE:
        values = [item.strip() for item in data[at:at + length].decode("latin-1").split("\\")]
    elif kind == _UR:
        values = [data[at:at + length].decode("latin-1").rstrip()]
    elif kind == _AT:
        if length % 4:
            raise Unusual("AT of the wrong length")
        pairs = unpack_from(f"<{length // 2}H", data, at)
        return {"vr": vr, "Value": [f"{pairs[i] << 16 | pairs[i + 1]:08X}" for i in range(0, len(pairs), 2)]}
    else:  # pragma: no cover - every kind of _VRS is handled above or is text (the caller's)
        raise AssertionError(kind)
    if len(values) == 1 and not values[0]:
        return {"vr": vr}
    return {"vr": vr, "Value": values}


def _text_element(kind: int, vr: str, text: str) -> dict[str, Any]:
    """The DICOM JSON of text in the character set (SH LO UC; ST LT UT; PN), decoded."""
    if kind == _SPLIT:
        values = [item.rstrip("\x00 ") for item in text.split("\\")]
    elif kind == _SINGLE:
        values = [text.rstrip("\x00 ")]
    else:  # PN: pydicom strips trailing NULs and spaces from the bytes, then splits
        values = text.rstrip("\x00 ").split("\\")
    if len(values) == 1 and not values[0]:
        return {"vr": vr}  # pydicom: an empty value has VM 0, no "Value"
    if kind == _PN:
        return {"vr": vr, "Value": [_person_name(name) for name in values]}
    return {"vr": vr, "Value": values}


def _decode(value: bytes, codec: str | None) -> str:
    """Non-ASCII text (escape sequences were refused when it was read)."""
    if codec is None:
        raise Unusual("non-ASCII text in a character set pydicom would correct or does not know")
    try:
        return value.decode(codec)
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
