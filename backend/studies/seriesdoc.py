"""Series metadata documents: one object per series holding every instance's DICOM JSON and the facts
the viewer and the preview path need, so WADO-RS ``/metadata`` of a series costs one object read, not
one per instance (dcm4chee-arc's series metadata; the wall Orthanc on S3 hits with a 900-instance study
is one GET per instance, radpointhq/orthanc-s3-storage#13).

Written at ingest after the index rows committed, and on change. The document is a gzip stream of JSON
lines — a header line, then one line per instance, a later line for a UID replacing an earlier one — so that
ingest APPENDS: the stored bytes plus one new gzip member with this batch's lines (RFC 1952 §2.2: a gzip
file is a series of members). Re-reading, re-encoding and re-compressing the whole document at every
STOW batch made a 300-instance series cost 1.6 CPU-ms per instance, growing with the series (issue 21).
Version 1 documents (one JSON object) are still read.

The database stays the truth: a document entry counts only when its SHA-256 equals the instance row's,
so a document that lost a race between two uploads of one series, or was never written (the store failed
after the rows committed), is completed from the originals on the next read and written back. Key:
``series/<series id>.json.gz`` in the store's ``meta`` area; gzip because DICOM JSON is repetitive
(about 10× smaller).
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected
from backend.dicom.parse import ParseLimits, parse_stored
from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.keys import original_key
from backend.studies.models import Instance

log = logging.getLogger("yunying.seriesdoc")
VERSION = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """An instance stored now. ``dicom_json`` is encoded JSON text, as the parse process made it
    (ingest/parsing.py): spliced into the line, not decoded and encoded again (docs/ingest.md round 6)."""

    sop_instance_uid: str
    sha256: str
    dicom_json: bytes
    facts: dict[str, Any]


def key(series_id: str) -> str:
    return f"series/{series_id}.json.gz"


def facts_of(instance: Instance) -> dict[str, Any]:
    """What rendering and frame retrieval need without the database row (cold paths, other nodes)."""
    return facts_of_values({name: getattr(instance, name) for name in _FACT_COLUMNS})


_FACT_COLUMNS = ("sha256", "size", "transfer_syntax_uid", "frames", "rows", "columns", "pixel_data_offset",
                 "pixel_encapsulated", "pixel_fragments", "pixel_basic_offsets")


def facts_of_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`facts_of` from the row's column values (ingest inserts dicts: ingest/rows.py)."""
    return {"blob_key": original_key(row["sha256"]), "size": row["size"], "ts": row["transfer_syntax_uid"],
            "frames": row["frames"], "rows": row["rows"], "columns": row["columns"],
            "pixel_data_offset": row["pixel_data_offset"], "encapsulated": row["pixel_encapsulated"],
            "fragments": row["pixel_fragments"], "basic_offsets": row["pixel_basic_offsets"]}


def read(meta: ObjectStore, series_id: str) -> dict[str, dict[str, Any]]:
    """SOP Instance UID → {"sha256", "json", "facts"}; empty when there is no (readable) document."""
    try:
        data = meta.get_bytes(key=key(series_id))
    except ObjectMissing:
        return {}
    try:
        return _decode(gzip.decompress(data or b""))
    except (OSError, ValueError, EOFError):
        log.warning("series document unreadable: rebuilt from the originals")
        return {}


def _decode(text: bytes) -> dict[str, dict[str, Any]]:
    lines = text.split(b"\n")
    head = json.loads(lines[0]) if lines and lines[0] else None
    if not isinstance(head, dict):
        return {}
    if head.get("v") == 1:
        return dict(head["instances"]) if isinstance(head.get("instances"), dict) else {}
    if head.get("v") != VERSION:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        if line:
            entry = json.loads(line)
            out[entry.pop("uid")] = entry
    return out


def _lines(instances: dict[str, dict[str, Any]]) -> bytes:
    return b"".join(json.dumps({"uid": uid, **entry}, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                    for uid, entry in instances.items())


def _entry_line(entry: Entry) -> bytes:
    """A line of :func:`_lines`' shape with the encoded DICOM JSON spliced in. "json" comes first: should
    the parse process that encoded it have been taken over by a crafted file and have put more members
    after its object, the line's own "uid", "sha256" and "facts" come later and win (the decoder keeps the
    last of duplicate keys), so the entry still counts only for its own instance and bytes."""
    rest = json.dumps({"uid": entry.sop_instance_uid, "sha256": entry.sha256, "facts": entry.facts},
                      separators=(",", ":"), ensure_ascii=False).encode()
    return b'{"json":' + entry.dicom_json + b"," + rest[1:] + b"\n"


def _header(series_id: str) -> bytes:
    return json.dumps({"v": VERSION, "series_id": series_id}, separators=(",", ":")).encode() + b"\n"


def write(meta: ObjectStore, series_id: str, instances: dict[str, dict[str, Any]]) -> None:
    body = _header(series_id) + _lines(instances)
    meta.put_bytes(key=key(series_id), data=gzip.compress(body, compresslevel=6))


def add(meta: ObjectStore, series_id: str, entries: Iterable[Entry]) -> None:
    """Append new instances to the series' document (ingest, after the rows committed): the stored bytes
    are copied, not decoded. A failure is logged, not raised: the rows are the truth and the next read
    completes the document. A version 1 document is rewritten whole, once."""
    entries = list(entries)
    try:
        try:
            current = meta.get_bytes(key=key(series_id)) or b""
        except ObjectMissing:
            current = b""
        if current and not _appendable(current):
            new = {e.sop_instance_uid: {"sha256": e.sha256, "json": json.loads(e.dicom_json), "facts": e.facts}
                   for e in entries}
            write(meta, series_id, {**read(meta, series_id), **new})
            return
        lines = b"".join(_entry_line(e) for e in entries)
        member = gzip.compress((b"" if current else _header(series_id)) + lines, compresslevel=6)
        # Atomic (rename) but not fsynced: the document is a cache of the rows and the originals, which
        # are durable. After a crash an unsynced document is the old one, or unreadable (read() gives {}),
        # or a member short (gzip's EOFError, the same): the next read rebuilds it. The fsync of the file
        # and of its directory cost every STOW batch a journal commit on the request path (issue 21).
        meta.put_bytes(key=key(series_id), data=current + member, durable=False)
    except StorageUnavailable:
        log.warning("series document not written (store unavailable): completed on the next read")


def _appendable(data: bytes) -> bool:
    """A version 2 document: its first member starts with our header line (only that much is inflated)."""
    try:
        start = zlib.decompressobj(wbits=31).decompress(data, 64)
    except zlib.error:
        return False
    return start.startswith(b'{"v":%d,' % VERSION)


def metadata(*, blobs: ObjectStore, meta: ObjectStore, instances: Sequence[Instance]) -> list[dict[str, Any]]:
    """DICOM JSON of each instance, in the given order: one document read per series, plus one original
    per instance the document lacks (then written back)."""
    by_series: dict[str, list[Instance]] = {}
    for instance in instances:
        by_series.setdefault(instance.series_id, []).append(instance)
    found: dict[str, dict[str, Any]] = {}
    for series_id, members in by_series.items():
        doc = read(meta, series_id)
        repaired = False
        for instance in members:
            entry = doc.get(instance.sop_instance_uid)
            if not entry or entry.get("sha256") != instance.sha256:
                made = _from_original(blobs, instance)
                if made is None:
                    continue  # a stored file that no longer parses is skipped, not a 500
                doc[instance.sop_instance_uid] = entry = made
                repaired = True
            found[instance.id] = entry["json"]
        if repaired:
            try:
                write(meta, series_id, doc)
            except StorageUnavailable:
                pass  # served from the originals this time; written on a later read
    return [found[i.id] for i in instances if i.id in found]


def _from_original(blobs: ObjectStore, instance: Instance) -> dict[str, Any] | None:
    try:
        with blobs.open(key=instance.blob_key, size=instance.size) as fh:
            parsed = parse_stored(fh, size=instance.size, limits=ParseLimits(strict_uids=False))
    except DicomRejected:
        return None
    return {"sha256": instance.sha256, "json": dataset_to_json(parsed.dataset, bulk_data_uri=None),
            "facts": facts_of(instance)}
