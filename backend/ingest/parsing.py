"""What a STOW-RS upload's parse yields, and the parse itself (run in a parse process or inline).

:func:`parse_file` reads one spooled part and returns only what the index and the series document
need (the pydicom data set itself is replaced by an empty one). It runs in the parse processes of
:mod:`backend.ingest.parsepool`, or in the web process's threads when none are configured; its result
crosses the process boundary through :mod:`backend.ingest.parsewire`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.metadata import InstanceMetadata, extract_metadata
from backend.dicom.parse import ParsedInstance, ParseLimits, parse_fast, parse_instance


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Either ``parsed`` + ``meta`` (``parsed.dataset`` emptied), or a failure ``code`` + ``reason``."""

    parsed: ParsedInstance | None = None
    meta: InstanceMetadata | None = None
    code: int | None = None
    reason: str | None = None
    # The DICOM JSON object as encoded JSON text (UTF-8), for the series metadata document
    # (studies/seriesdoc.py): encoded once here and never decoded by the web process, which only splices
    # it into the document's line (docs/ingest.md round 6).
    dicom_json: bytes | None = None


def encode_dicom_json(model: dict[str, Any]) -> bytes:
    """One line of JSON: json.dumps escapes every control character, so the text holds no newline."""
    return json.dumps(model, separators=(",", ":"), ensure_ascii=False).encode()


def parse_file(path: Path, limits: ParseLimits) -> ParseResult:
    """Runs in a worker process (or inline). Never raises. Explicit VR Little Endian files take the fast
    header reader (parse.parse_fast: one pass over the bytes to DICOM JSON, the index fields read from
    that; docs/ingest.md round 3); anything else, and any file that reader is unsure of, pydicom."""
    fast = parse_fast_only(path, limits, bounded=False)
    if fast is not None:
        return fast
    try:
        parsed = parse_instance(path=path, limits=limits)
    except DicomRejected as exc:
        return ParseResult(code=exc.code, reason=exc.reason)
    slim = dataclasses.replace(parsed, dataset=Dataset())
    try:
        meta = extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)
    except Exception as exc:  # noqa: BLE001 - metadata extraction is tolerant; belt and braces
        return ParseResult(parsed=slim, code=FailureReason.CANNOT_UNDERSTAND, reason=str(exc)[:200])
    try:  # made here, while the data set is at hand: WADO-RS metadata then never re-reads the original
        dicom_json = encode_dicom_json(dataset_to_json(parsed.dataset, bulk_data_uri=None))
    except Exception:  # noqa: BLE001 - the document is completed from the original on first read instead
        dicom_json = None
    return ParseResult(parsed=slim, meta=meta, dicom_json=dicom_json)


def parse_fast_only(path: Path, limits: ParseLimits, *, bounded: bool) -> ParseResult | None:
    """The fast header reader's result, or None when the file is not for it (then :func:`parse_file`,
    whose pydicom path decides). ``bounded`` (parse.parse_fast): only a header and native Pixel Data
    within the file's first 64 KiB, so that the work is small and bounded whatever the file — what the
    event loop may run itself (ingest/parsepool.py). Never raises."""
    fast = parse_fast(path=path, limits=limits, bounded=bounded)
    if fast is None:
        return None
    parsed, view = fast
    try:
        meta = extract_metadata(view, transfer_syntax_uid=parsed.transfer_syntax_uid)
    except Exception as exc:  # noqa: BLE001 - as in parse_file
        return ParseResult(parsed=parsed, code=FailureReason.CANNOT_UNDERSTAND, reason=str(exc)[:200])
    return ParseResult(parsed=parsed, meta=meta, dicom_json=encode_dicom_json(view.model))
