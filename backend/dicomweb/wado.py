"""WADO-RS retrieval (DICOM PS3.18 §10.4) of what a principal may read. No FastAPI here.

* Instances: ``multipart/related; type="application/dicom"``, one part per instance, the ORIGINAL
  bytes exactly as uploaded; each part's Content-Type names its transfer syntax (§8.7.3.5.2).
  Yunying does not transcode: a request that insists on one specific other transfer syntax still
  gets the original (documented gap; ``transfer-syntax=*`` is the honest request).
* Metadata: ``application/dicom+json`` (Annex F), read from the stored header; binary values and
  Pixel Data are left out (no bulk data endpoint yet).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected
from backend.dicom.parse import ParseLimits, parse_stored
from backend.errors import NotAcceptable, NotFound
from backend.storage.base import ObjectStore
from backend.studies.models import Instance, Series, Study

CHUNK = 1024 * 1024
_TYPE = re.compile(r';\s*type\s*=\s*"?([^";]+)', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Selected:
    study: Study
    instances: list[tuple[Instance, Series]]


def select_instances(
    *,
    session: Session,
    access: ColumnElement[bool],
    study_uid: str,
    series_uid: str | None = None,
    instance_uid: str | None = None,
    pixels_only: bool = False,
) -> Selected:
    """The study's (series', instance's) instances the principal may read; NotFound otherwise
    (unknown and forbidden look the same, DESIGN.md rule 1). ``pixels_only``: images only (the
    rendered resources), leaving out SR, SEG without rows, PDFs …"""
    study = session.exec(select(Study).where(access, col(Study.study_instance_uid) == study_uid)).first()
    if study is None:
        raise NotFound("No such study.", zh="未找到该检查", code="study-not-found")
    statement = (
        select(Instance, Series)
        .join(Series, col(Instance.series_id) == col(Series.id))
        .where(col(Instance.study_id) == study.id)
        .order_by(col(Series.series_number), col(Series.id), col(Instance.instance_number), col(Instance.id))
    )
    if series_uid is not None:
        statement = statement.where(col(Series.series_instance_uid) == series_uid)
    if instance_uid is not None:
        statement = statement.where(col(Instance.sop_instance_uid) == instance_uid)
    if pixels_only:
        statement = statement.where(col(Instance.rows).is_not(None))
    rows = [(i, s) for i, s in session.exec(statement).all()]
    if not rows:
        what = "No such series or instance with pixel data." if pixels_only else "No such series or instance."
        raise NotFound(what, code="instance-not-found")
    return Selected(study=study, instances=rows)


def check_accept_dicom(accept: str | None) -> None:
    """PS3.18 §8.7.3: instance resources answer multipart/related; type="application/dicom"."""
    if not accept:
        return
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        if media in ("*/*", "multipart/*"):
            return
        if media == "multipart/related":
            found = _TYPE.search(";" + params)
            if found is None or found.group(1).strip().lower() == "application/dicom":
                return
    raise NotAcceptable(
        'this resource is available as multipart/related; type="application/dicom"', code="not-acceptable"
    )


def multipart_stream(*, blobs: ObjectStore, instances: list[Instance], boundary: str) -> Iterator[bytes]:
    """RFC 2387 body: original files, streamed in 1 MiB chunks (memory stays bounded). The first original
    is opened before the answer starts: an unavailable store is a 503, not a cut-off 200."""
    first = blobs.iter_bytes(key=instances[0].blob_key, chunk=CHUNK) if instances else None
    return _multipart(blobs, instances, boundary, first)


def _multipart(blobs: ObjectStore, instances: list[Instance], boundary: str,
               first: Iterator[bytes] | None) -> Iterator[bytes]:
    for n, instance in enumerate(instances):
        yield (
            f"--{boundary}\r\nContent-Type: application/dicom; transfer-syntax={instance.transfer_syntax_uid}\r\n"
            f"Content-Length: {instance.size}\r\n\r\n"
        ).encode("ascii")
        yield from (first if n == 0 and first is not None else blobs.iter_bytes(key=instance.blob_key, chunk=CHUNK))
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def new_boundary() -> str:
    return f"yunying-{secrets.token_hex(16)}"


def metadata(*, blobs: ObjectStore, instances: list[Instance]) -> list[dict[str, Any]]:
    """DICOM JSON of each stored header (file meta excluded, binary values omitted)."""
    out = []
    for instance in instances:
        try:
            with blobs.open(key=instance.blob_key) as fh:
                parsed = parse_stored(fh, size=instance.size, limits=ParseLimits(strict_uids=False))
        except DicomRejected:
            continue  # stored files parsed once already; a file that no longer parses is skipped, not a 500
        out.append(dataset_to_json(parsed.dataset, bulk_data_uri=None))
    return out
