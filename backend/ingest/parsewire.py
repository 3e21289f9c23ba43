"""The messages between a web process and its parse processes (backend/ingest/parsepool.py).

Each message is a frame: a 4-byte little-endian length, then that many bytes of JSON. A request is
``[path, [limit, …]]`` (the :class:`ParseLimits` fields in declaration order); a reply is
``[code, reason, parsed, meta]``, each dataclass as the list of its field values in declaration order, so
no field name crosses, then — when there is one — a newline and the instance's DICOM JSON as the parse
process encoded it (:func:`decode_result` says why it is not decoded here).

Why JSON and not pickle (what ``ProcessPoolExecutor`` used): the parse process reads hostile input;
should a crafted file ever take it over, a pickle it sends back would run code in the web process
(pickle's documentation: "never unpickle data received from an untrusted source"). A JSON reply can at
worst be wrong, and a reply that does not decode into the expected shapes fails that one instance
(0x0110). It costs what the pickle cost: a reply of the 512×512 CT (3.8 KB) encodes in about 60 µs and
decodes in about 65 µs of CPU, as its pickle did (docs/ingest.md, round 5).

The codec is built once per dataclass from its type hints, so a field added to ``InstanceMetadata`` or
``ParsedInstance`` crosses without an edit here; a field of a type this module cannot carry fails at
import time (and the round-trip tests), not at run time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import types
import typing
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydicom.dataset import Dataset

from backend.dicom.metadata import InstanceMetadata
from backend.dicom.parse import ParsedInstance, ParseLimits
from backend.ingest.parsing import ParseResult

HEADER = struct.Struct("<I")
MAX_FRAME = 64 * 1024**2  # a reply is a few KiB; the header limit (ParseLimits.max_header_bytes) bounds it

Convert = Callable[[Any], Any]

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=True).encode
_loads = json.JSONDecoder().decode


class WireError(ValueError):
    """A frame that does not decode into the expected shapes."""


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# -- requests -----------------------------------------------------------------------------------------
_LIMIT_FIELDS = tuple(f.name for f in dataclasses.fields(ParseLimits))


def encode_request(path: Path, limits: ParseLimits) -> bytes:
    # os.fsdecode round-trips any file name (surrogateescape); JSON escapes the surrogates
    return frame(_dumps([os.fsdecode(path), [getattr(limits, name) for name in _LIMIT_FIELDS]]).encode())


def decode_request(payload: bytes) -> tuple[Path, ParseLimits]:
    path, limits = _loads(payload.decode())
    return Path(path), ParseLimits(*limits)


# -- replies ------------------------------------------------------------------------------------------
def _identity(value: Any) -> Any:
    return value


def _encode_datetime(value: datetime) -> list[Any]:
    zone = value.tzinfo
    key: str | int | None
    if zone is None:
        key = None
    elif isinstance(zone, ZoneInfo) and zone.key is not None:
        key = zone.key  # the zone itself, not only its offset at this instant
    else:
        offset = value.utcoffset()
        key = int(offset.total_seconds()) if offset is not None else None
    return [value.replace(tzinfo=None).isoformat(), key]


def _decode_datetime(value: list[Any]) -> datetime:
    text, key = value
    naive = datetime.fromisoformat(text)
    zone: tzinfo | None
    if key is None:
        zone = None
    elif isinstance(key, str):
        zone = ZoneInfo(key)
    else:
        zone = timezone(timedelta(seconds=int(key)))
    return naive.replace(tzinfo=zone)


def _or_none(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda v: None if v is None else convert(v)


def _codec(hint: Any) -> tuple[Convert | None, Convert | None]:
    """(encoder, decoder) for one type hint; None where the JSON value is the value itself."""
    origin = typing.get_origin(hint)
    if hint in (str, int, float, bool, type(None), Any):
        return None, None
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            pairs = [_codec(arg) for arg in members]
            if any(enc or dec for enc, dec in pairs):
                raise TypeError(f"parsewire cannot carry {hint!r}")
            return None, None
        enc, dec = _codec(members[0])
        return _or_none(enc), _or_none(dec)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            enc, dec = _codec(args[0])
            return (list if enc is None else lambda v: [enc(x) for x in v],
                    tuple if dec is None else lambda v: tuple(dec(x) for x in v))
        pairs = [_codec(arg) for arg in args]
        encs = [enc or _identity for enc, _ in pairs]
        decs = [dec or _identity for _, dec in pairs]
        return (lambda v: [e(x) for e, x in zip(encs, v, strict=True)],
                lambda v: tuple(d(x) for d, x in zip(decs, v, strict=True)))
    if origin in (dict, list):
        return None, None  # JSON-native already (the DICOM JSON model)
    if isinstance(hint, type):
        if hint is datetime:
            return _encode_datetime, _decode_datetime
        if hint is date:
            return date.isoformat, date.fromisoformat
        if hint is Path:
            return os.fsdecode, Path
        if hint is Dataset:  # the parse empties it (only what the index needs crosses)
            return lambda _v: None, lambda _v: Dataset()
        if issubclass(hint, Enum):
            return (lambda v: v.value), hint
        if dataclasses.is_dataclass(hint):
            return _dataclass_codec(hint)
    raise TypeError(f"parsewire cannot carry {hint!r}")


def _dataclass_codec(cls: type) -> tuple[Convert, Convert]:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    pairs = [_codec(hints[name]) for name in names]
    fields = [(name, enc) for name, (enc, _) in zip(names, pairs, strict=True)]
    decoders = [dec for _, dec in pairs]
    width = len(names)

    def encode(value: Any) -> list[Any]:
        return [getattr(value, name) if enc is None else enc(getattr(value, name)) for name, enc in fields]

    if not any(decoders):
        def decode(values: list[Any]) -> Any:
            if len(values) != width:
                raise WireError(f"{cls.__name__}: {len(values)} values for {width} fields")
            return cls(*values)
    else:
        def decode(values: list[Any]) -> Any:
            if len(values) != width:
                raise WireError(f"{cls.__name__}: {len(values)} values for {width} fields")
            return cls(*[v if dec is None else dec(v) for dec, v in zip(decoders, values, strict=True)])

    return encode, decode


_encode_parsed, _decode_parsed = _dataclass_codec(ParsedInstance)
_encode_meta, _decode_meta = _dataclass_codec(InstanceMetadata)


def encode_result(result: ParseResult) -> bytes:
    head = _dumps([
        result.code,
        result.reason,
        None if result.parsed is None else _encode_parsed(result.parsed),
        None if result.meta is None else _encode_meta(result.meta),
    ]).encode()
    return frame(head if result.dicom_json is None else head + b"\n" + result.dicom_json)


def decode_result(payload: bytes) -> ParseResult:
    """Raises WireError (or the ValueError/TypeError of a value of the wrong shape) on a bad reply.

    The DICOM JSON after the newline is taken as it is, not decoded: the web process only splices it
    into a series document line, as that line's FIRST member (studies/seriesdoc.py), so that whatever
    a process taken over by a crafted file put there cannot stand in for the line's own keys (JSON
    decoders keep the last of duplicate keys). It must look like one JSON object on one line; a wrong
    one makes the document unreadable, which is rebuilt from the originals on its next read."""
    try:
        head, newline, dicom_json = payload.partition(b"\n")
        code, reason, parsed, meta = _loads(head.decode())
        if not (code is None or type(code) is int) or not (reason is None or isinstance(reason, str)):
            raise WireError("bad failure code or reason")
        if newline and not (dicom_json[:1] == b"{" and dicom_json[-1:] == b"}" and b"\n" not in dicom_json):
            raise WireError("bad DICOM JSON")
        return ParseResult(parsed=None if parsed is None else _decode_parsed(parsed),
                           meta=None if meta is None else _decode_meta(meta),
                           code=code, reason=reason, dicom_json=dicom_json if newline else None)
    except (KeyError, IndexError, AttributeError) as exc:
        raise WireError(str(exc)) from exc
