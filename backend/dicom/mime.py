"""MIME pieces of STOW-RS: the request Content-Type, part headers, and a streaming encoder.

* PS3.18 §10.5.1.1: the Store request is ``multipart/related; type="application/dicom"; boundary=…``
  (RFC 2387); parameters are parsed with the standard library's RFC 2045 parser (quotes, case).
* RFC 2046 §5.1.1: boundary syntax (1-70 characters from a restricted set, no trailing space).
* :func:`encode_multipart` is the client side (``yunying upload``, benchmarks): files are streamed in
  chunks, never held whole.

Re-exported by :mod:`.multipart`; import from there.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

# RFC 2046 §5.1.1: 1-70 characters from bchars, not ending in a space.
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")


class MultipartError(Exception):
    """The request as a whole cannot be read; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.status = status
        self.message_en = message_en
        self.message_zh = message_zh


@dataclass(frozen=True, slots=True)
class RelatedContentType:
    boundary: str
    type: str | None  # the "type" parameter (root part media type), lower case
    start: str | None
    parameters: dict[str, str] = field(default_factory=dict)


def parse_related_content_type(
    header: str | None, *, accept_types: Iterable[str] = ("application/dicom",)
) -> RelatedContentType:
    """Check the request's Content-Type (PS3.18 §10.5.1.1); raise MultipartError 400/415."""
    if not header or not header.strip():
        raise MultipartError(415, "missing Content-Type; expected multipart/related", "缺少 Content-Type")
    message = Message()
    message["content-type"] = header
    media = message.get_content_type()
    if media != "multipart/related":
        raise MultipartError(
            415,
            f'Content-Type must be multipart/related; type="application/dicom", not {media}',
            "Content-Type 必须为 multipart/related（type=application/dicom）",
        )
    params = {k.lower(): str(val) for k, val in (message.get_params() or [])[1:]}
    root_type = (params.get("type") or "").strip().lower() or None
    accepted = {t.lower() for t in accept_types}
    if root_type is not None and root_type not in accepted:
        raise MultipartError(
            415,
            f"multipart/related type {root_type!r} is not supported; use {', '.join(sorted(accepted))}",
            "不支持的 multipart/related type 参数",
        )
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError(400, "multipart/related without a boundary parameter", "缺少 boundary 参数")
    if not _BOUNDARY.match(boundary):
        raise MultipartError(400, "invalid multipart boundary (RFC 2046 §5.1.1)", "boundary 参数无效")
    return RelatedContentType(boundary=boundary, type=root_type, start=params.get("start"), parameters=params)


def parse_part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last: str | None = None
    for line in raw.decode("latin-1").split("\r\n"):
        if not line:
            continue
        if line[0] in " \t" and last is not None:  # obsolete folding (RFC 5322 §3.2.2)
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise MultipartError(400, f"malformed part header line {line[:60]!r}", "分段头格式错误")
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


def media_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    message = Message()
    message["content-type"] = value
    params = {k.lower(): str(v) for k, v in (message.get_params() or [])[1:]}
    media = value.split(";", 1)[0].strip().lower() or None
    return media, params.get("transfer-syntax")


def new_boundary() -> str:
    """A random boundary (RFC 2046 §5.1.1); 128 bits make a clash with file content negligible."""
    return "yunying-" + secrets.token_hex(16)


def related_content_type(boundary: str) -> str:
    return f'multipart/related; type="application/dicom"; boundary={boundary}'


def encode_multipart(paths: Iterable[Path], *, boundary: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Yield a STOW-RS request body for ``paths`` in chunks of at most ``chunk_size`` bytes."""
    for path in paths:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        with path.open("rb") as source:
            while block := source.read(chunk_size):
                yield block
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")
