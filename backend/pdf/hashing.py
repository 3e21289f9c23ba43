"""Hashes for signing, caching and invalidating PDFs (pure, except the fingerprint reads reports/).

- ``content_hash(document)``: SHA-256 of a canonical JSON form of the document's *data*. The
  verification code signs this, not the PDF bytes: the PDF contains the code, so it cannot also be
  the input of the code's signature. Amending a report changes this hash.
- ``document_hash(pdf)``: SHA-256 of the rendered bytes (ETag, integrity of a cached file).
- ``templates_fingerprint()``: changes whenever a template, the CSS, the labels, the font or the
  WeasyPrint version changes — part of a PDF cache key, so such a change re-renders (issue 9).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

import weasyprint

from backend.pdf.assets import REPORTS_DIR


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        # Images enter the hash by digest: same image, same hash, without megabytes of JSON.
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot hash a {type(value).__name__} in document content")


def content_hash(document: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, UTF-8, no spaces) of ``document``."""
    text = json.dumps(_canonical(document), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_hash(pdf: bytes) -> str:
    return "sha256:" + hashlib.sha256(pdf).hexdigest()


@lru_cache(maxsize=1)
def templates_fingerprint() -> str:
    digest = hashlib.sha256(f"weasyprint {weasyprint.__version__}\n".encode())
    for path in sorted(p for p in REPORTS_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(REPORTS_DIR).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
