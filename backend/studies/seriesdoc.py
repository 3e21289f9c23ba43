"""Series metadata documents: one object per series holding every instance's DICOM JSON and the facts
the viewer and the preview path need, so WADO-RS ``/metadata`` of a series costs one object read, not
one per instance (dcm4chee-arc's series metadata; the wall Orthanc on S3 hits with a 900-instance study
is one GET per instance, radpointhq/orthanc-s3-storage#13).

Written at ingest after the index rows committed (one read-merge-write per series per STOW batch) and
on change. The database stays the truth: a document entry counts only when its SHA-256 equals the
instance row's, so a document that lost a race between two uploads of one series, or was never written
(the store failed after the rows committed), is completed from the originals on the next read and
written back. Key: ``series/<series id>.json.gz`` in the store's ``meta`` area; gzip because DICOM JSON
is repetitive (about 10× smaller).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected
from backend.dicom.parse import ParseLimits, parse_stored
from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.studies.models import Instance

log = logging.getLogger("yunying.seriesdoc")
VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    sop_instance_uid: str
    sha256: str
    dicom_json: dict[str, Any]
    facts: dict[str, Any]


def key(series_id: str) -> str:
    return f"series/{series_id}.json.gz"


def facts_of(instance: Instance) -> dict[str, Any]:
    """What rendering and frame retrieval need without the database row (cold paths, other nodes)."""
    return {"blob_key": instance.blob_key, "size": instance.size, "ts": instance.transfer_syntax_uid,
            "frames": instance.frames, "rows": instance.rows, "columns": instance.columns,
            "pixel_data_offset": instance.pixel_data_offset, "encapsulated": instance.pixel_encapsulated,
            "fragments": instance.pixel_fragments, "basic_offsets": instance.pixel_basic_offsets}


def read(meta: ObjectStore, series_id: str) -> dict[str, dict[str, Any]]:
    """SOP Instance UID → {"sha256", "json", "facts"}; empty when there is no (readable) document."""
    try:
        data = meta.get_bytes(key=key(series_id))
    except ObjectMissing:
        return {}
    try:
        doc = json.loads(gzip.decompress(data or b""))
    except (OSError, ValueError, EOFError):
        log.warning("series document unreadable: rebuilt from the originals")
        return {}
    if not isinstance(doc, dict) or doc.get("v") != VERSION or not isinstance(doc.get("instances"), dict):
        return {}
    return dict(doc["instances"])


def write(meta: ObjectStore, series_id: str, instances: dict[str, dict[str, Any]]) -> None:
    body = json.dumps({"v": VERSION, "series_id": series_id, "instances": instances}, separators=(",", ":"),
                      ensure_ascii=False).encode()
    meta.put_bytes(key=key(series_id), data=gzip.compress(body, compresslevel=6))


def add(meta: ObjectStore, series_id: str, entries: Iterable[Entry]) -> None:
    """Merge new instances into the series' document (ingest, after the rows committed). A failure is
    logged, not raised: the rows are the truth and the next read completes the document."""
    try:
        current = read(meta, series_id)
        for e in entries:
            current[e.sop_instance_uid] = {"sha256": e.sha256, "json": e.dicom_json, "facts": e.facts}
        write(meta, series_id, current)
    except StorageUnavailable:
        log.warning("series document not written (store unavailable): completed on the next read")


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
