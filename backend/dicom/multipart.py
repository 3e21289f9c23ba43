"""Streaming reader for STOW-RS request bodies: ``multipart/related; type="application/dicom"``.

PS3.18 §10.5.1 (Store Instances request) sends each instance as one body part of a
``multipart/related`` message (RFC 2387) whose framing is MIME multipart (RFC 2046 §5.1.1).
Bodies can be gigabytes, so nothing here holds a whole part: each part's bytes go straight to a
temp file while its SHA-256 is computed; memory stays O(chunk size + boundary). That SHA-256, taken
over the bytes as they are written into a file only this reader writes, is the one the original is
stored and verified under: the blob store does not hash the file a second time (storage/base.py).

Usage (Starlette/FastAPI route; the service owns what follows)::

    ctype = parse_related_content_type(request.headers.get("content-type"))
    async for part in read_multipart(request.stream(), boundary=ctype.boundary, directory=tmp_dir,
                                     limits=MultipartLimits(max_part_bytes=..., ...)):
        if part.rejected:                        # wrong part type / part too large: report, go on
            failed(part.index, part.rejected)
        else:
            handle(part.path, part.size, part.sha256)   # the caller now owns part.path

* A part is yielded only after its closing delimiter has been seen: a yielded part is complete.
* The whole request fails with :class:`MultipartError` (HTTP ``status`` 400 / 413 / 415) on
  malformed framing, a missing closing delimiter (truncated upload), more than ``max_parts`` parts,
  or more than ``max_total_bytes``; the temp file of the part in progress is removed, files of parts
  already yielded belong to the caller.
* A part whose Content-Type is not accepted, or which exceeds ``max_part_bytes``, is drained
  without being stored and yielded with ``rejected`` set, so the other instances are still stored.

File writes are plain blocking ``write`` calls of one chunk each (page-cache speed); fsync is the
blob store's job when it makes the file durable.

The other direction, for the ``yunying upload`` client and benchmarks: :func:`encode_multipart`
streams files as a STOW-RS body (never holding a whole file), :func:`new_boundary` and
:func:`related_content_type` build the matching header.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from backend.dicom.mime import (
    MultipartError,
    RelatedContentType,
    encode_multipart,
    media_type,
    new_boundary,
    parse_part_headers,
    parse_related_content_type,
    related_content_type,
)

__all__ = [
    "MultipartError",
    "MultipartLimits",
    "MultipartReader",
    "Part",
    "RelatedContentType",
    "encode_multipart",
    "new_boundary",
    "parse_related_content_type",
    "read_multipart",
    "related_content_type",
]

_MAX_LINE = 1024


@dataclass(frozen=True, slots=True)
class MultipartLimits:
    max_part_bytes: int = 4 * 1024**3
    max_total_bytes: int = 16 * 1024**3
    max_parts: int = 10_000
    max_header_bytes: int = 16 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    index: int  # 0-based position in the request
    headers: dict[str, str]  # lower-case names
    content_type: str | None  # media type without parameters, lower case
    transfer_syntax: str | None  # application/dicom;transfer-syntax=... (PS3.18 §8.7.3.5)
    path: Path | None  # None when rejected
    size: int
    sha256: str | None
    rejected: str | None = None  # English reason when the part was not stored


class MultipartReader:
    """Push parser: ``feed(chunk)`` returns the parts completed by it, ``finish()`` checks the end.

    States: preamble -> (boundary line -> headers -> body)* -> epilogue. The search key is
    CRLF "--" boundary (RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter);
    a virtual CRLF before the first byte lets the first delimiter start the body.
    """

    def __init__(
        self,
        *,
        boundary: str,
        directory: Path,
        limits: MultipartLimits | None = None,
        accept: Iterable[str] = ("application/dicom",),
    ) -> None:
        self._delimiter = b"\r\n--" + boundary.encode("ascii")
        self._dir = directory
        self._limits = limits or MultipartLimits()
        self._accept = {a.lower() for a in accept}
        self._buf = bytearray(b"\r\n")
        self._state = "preamble"
        self._total = 0
        self._index = -1
        self._headers: dict[str, str] = {}
        self._fd: int | None = None
        self._path: Path | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self._rejected: str | None = None
        self._media: str | None = None
        self._ts: str | None = None
        self._handlers: dict[str, Callable[[], bool | Part | None]] = {
            "preamble": self._on_preamble,
            "boundary_line": self._on_boundary_line,
            "headers": self._on_headers,
            "body": self._on_body,
            "epilogue": self._on_epilogue,
        }

    # -- public -------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[Part]:
        self._total += len(chunk)
        if self._total > self._limits.max_total_bytes:
            self.abort()
            raise MultipartError(
                413, f"request body exceeds {self._limits.max_total_bytes} bytes", "上传内容超过大小限制"
            )
        if self._state == "epilogue":
            return []
        if self._state == "body" and self._fast_body(chunk):
            return []
        self._buf += chunk
        done: list[Part] = []
        while True:
            step = self._handlers[self._state]()
            if step is None:
                break
            if isinstance(step, Part):
                done.append(step)
        return done

    def finish(self) -> None:
        """Call at end of stream: anything but the epilogue state means a truncated request."""
        if self._state != "epilogue":
            self.abort()
            raise MultipartError(
                400,
                "request ended before the closing multipart boundary (truncated upload)",
                "上传内容不完整（缺少结束分隔符）",
            )

    def abort(self) -> None:
        """Remove the temp file of the part in progress (not the ones already handed out)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    # -- states: return True to continue, None when more data is needed, a Part when one ends --
    def _on_preamble(self) -> bool | None:
        at = self._buf.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter) - 1
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            return None
        del self._buf[: at + len(self._delimiter)]
        self._state = "boundary_line"
        return True

    def _on_boundary_line(self) -> bool | None:
        if len(self._buf) < 2:
            return None
        if self._buf[:2] == b"--":
            self._state = "epilogue"
            self._buf.clear()
            return None
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > _MAX_LINE:
                raise self._fail(400, "malformed multipart boundary line")
            return None
        if self._buf[:end].strip(b" \t"):  # only transport padding may follow a boundary
            raise self._fail(400, "malformed multipart boundary line")
        del self._buf[: end + 2]
        self._index += 1
        if self._index >= self._limits.max_parts:
            raise self._fail(413, f"more than {self._limits.max_parts} parts in one request")
        self._state = "headers"
        return True

    def _on_headers(self) -> bool | None:
        if self._buf[:2] == b"\r\n":
            raw, consumed = b"", 2
        else:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self._limits.max_header_bytes:
                    raise self._fail(400, "multipart part headers too large")
                return None
            raw, consumed = bytes(self._buf[:end]), end + 4
        if consumed - 4 > self._limits.max_header_bytes:
            raise self._fail(400, "multipart part headers too large")
        del self._buf[:consumed]
        self._headers = parse_part_headers(raw)
        self._start_part()
        self._state = "body"
        return True

    def _on_body(self) -> Part | None:
        at = self._buf.find(self._delimiter)
        if at < 0:
            flush = len(self._buf) - (len(self._delimiter) - 1)
            if flush > 0:
                # memoryview: hash and write straight from the buffer, no per-chunk copy
                with memoryview(self._buf) as view:
                    self._write(view[:flush])
                del self._buf[:flush]
            return None
        with memoryview(self._buf) as view:
            self._write(view[:at])
        del self._buf[: at + len(self._delimiter)]
        self._state = "boundary_line"
        return self._end_part()

    def _fast_body(self, chunk: bytes) -> bool:
        """Most chunks of a big part hold no delimiter: hash and write them straight from the
        chunk instead of copying them through the buffer. Between feeds in the body state the
        buffer holds fewer bytes than the delimiter and no delimiter (``_on_body`` flushed it)."""
        keep = len(self._delimiter) - 1
        if len(chunk) <= keep or len(self._buf) > keep:
            return False
        if (bytes(self._buf) + chunk[:keep]).find(self._delimiter) >= 0 or chunk.find(self._delimiter) >= 0:
            return False
        with memoryview(self._buf) as view:
            self._write(view)
        with memoryview(chunk) as view:
            self._write(view[: len(chunk) - keep])
        self._buf = bytearray(chunk[len(chunk) - keep :])
        return True

    def _on_epilogue(self) -> None:
        self._buf.clear()
        return None

    # -- helpers ------------------------------------------------------------------------------
    def _start_part(self) -> None:
        media, ts = media_type(self._headers.get("content-type"))
        self._media, self._ts = media, ts
        self._hash = hashlib.sha256()
        self._size = 0
        self._rejected = None
        if self._accept and media not in self._accept:
            self._rejected = f"part Content-Type {media or '(none)'} is not one of {', '.join(sorted(self._accept))}"
            return
        # O_EXCL and 0600 (mkstemp): no other writer can have this file open, which is what lets the blob
        # store take this reader's SHA-256 as the file's (storage/base.py Spooled) without reading it again
        fd, name = tempfile.mkstemp(prefix="stow-", suffix=".part", dir=self._dir)
        self._fd, self._path = fd, Path(name)

    def _write(self, data: memoryview) -> None:
        if not data:
            return
        self._size += len(data)
        if self._rejected is not None:
            return
        if self._size > self._limits.max_part_bytes:
            self._rejected = f"part larger than {self._limits.max_part_bytes} bytes"
            self.abort()
            return
        self._hash.update(data)
        assert self._fd is not None
        remaining = data
        while remaining:
            written = os.write(self._fd, remaining)
            remaining = remaining[written:]

    def _end_part(self) -> Part:
        path = self._path
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._path = None, None
        return Part(
            index=self._index,
            headers=self._headers,
            content_type=self._media,
            transfer_syntax=self._ts,
            path=None if self._rejected else path,
            size=self._size,
            sha256=None if self._rejected else self._hash.hexdigest(),
            rejected=self._rejected,
        )

    def _fail(self, status: int, message: str) -> MultipartError:
        self.abort()
        return MultipartError(status, message, "上传内容格式错误")


async def read_multipart(
    stream: AsyncIterator[bytes],
    *,
    boundary: str,
    directory: Path,
    limits: MultipartLimits | None = None,
    accept: Iterable[str] = ("application/dicom",),
) -> AsyncIterator[Part]:
    """Async generator over the parts of ``stream`` (see module docstring)."""
    reader = MultipartReader(boundary=boundary, directory=directory, limits=limits, accept=accept)
    try:
        async for chunk in stream:
            for part in reader.feed(chunk):
                yield part
        reader.finish()
    finally:
        reader.abort()
