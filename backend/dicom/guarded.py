"""A file wrapper that refuses reads and seeks beyond the end of the file.

Why: pydicom trusts declared element lengths. A 600-byte upload whose PatientName claims a length of
4 GiB makes a plain ``fp.read(length)`` allocate the whole declared size before the OS reports the
short read (CPython's ``read(n)`` sizes its buffer from ``n``). Wrapping the file lets the parser
fail in microseconds with bounded memory instead (PS3.5 §7.1.1: a value length must fit the data).

The wrapper also counts the bytes actually handed to pydicom, so a header (everything but Pixel
Data, which is never read here) cannot make the server hold more than ``max_read_bytes``.
"""

from __future__ import annotations

import io
from typing import BinaryIO


class LengthBeyondEnd(Exception):
    """A declared value length points past the end of the file."""

    def __init__(self, *, position: int, wanted: int, available: int) -> None:
        super().__init__(f"element at byte {position} declares {wanted} bytes but only {available} remain in the file")
        self.position = position
        self.wanted = wanted
        self.available = available


class HeaderTooLarge(Exception):
    """More than the allowed number of header bytes would have to be held in memory."""


# A short read this much beyond the end is a lie about a length, not a chunked scan near EOF.
_SLACK = 16 * 1024


class GuardedFile(io.RawIOBase):
    """Read-only view of ``raw`` (``size`` bytes) with length and budget checks.

    ``partial_reads`` lists (position, wanted, got) of reads that ran into EOF after returning some
    bytes: for a well-formed file pydicom never does that outside of the 128-byte preamble sniff.
    """

    def __init__(self, raw: BinaryIO, *, size: int, max_read_bytes: int, name: str = "") -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._budget = max_read_bytes
        self.bytes_read = 0
        self.partial_reads: list[tuple[int, int, int]] = []
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._raw.tell() + offset
        else:
            target = self._size + offset
        if target > self._size:
            # pydicom seeks over values it defers or skips; a target past EOF means a lying length.
            here = self._raw.tell()
            raise LengthBeyondEnd(position=here, wanted=target - here, available=self._size - here)
        if target < 0:
            raise ValueError("negative seek position")
        return self._raw.seek(target, io.SEEK_SET)

    def read(self, size: int | None = -1) -> bytes:
        position = self._raw.tell()
        available = self._size - position
        wanted = available if size is None or size < 0 else size
        if wanted > available:
            if available <= 0:
                return b""
            if wanted > available + _SLACK:
                raise LengthBeyondEnd(position=position, wanted=wanted, available=available)
            self.partial_reads.append((position, wanted, available))
            wanted = available
        if self.bytes_read + wanted > self._budget:
            raise HeaderTooLarge(f"header larger than {self._budget} bytes")
        data = self._raw.read(wanted)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
