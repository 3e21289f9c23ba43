"""A seekable, read-only file object over ranged reads (for pydicom and zipfile on an object store).

Reads go through a read-ahead block so that a parser's many small reads cost one ranged GET per
``block`` bytes; a read larger than the block is fetched exactly (pixel data, a ZIP member).
"""

from __future__ import annotations

import io
from collections.abc import Callable


class RangedReader(io.RawIOBase):
    def __init__(self, *, size: int, read_range: Callable[[int, int], bytes], block: int = 256 * 1024,
                 name: str = "") -> None:
        super().__init__()
        self._size, self._fetch, self._block = size, read_range, block
        self._pos = 0
        self._buf, self._buf_at = b"", 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if size == 0:
            return b""
        start = self._pos - self._buf_at
        if 0 <= start and start + size <= len(self._buf):
            data = self._buf[start:start + size]
        elif size >= self._block:
            data = self._fetch(self._pos, size)
        else:
            self._buf_at = self._pos
            self._buf = self._fetch(self._pos, min(self._block, self._size - self._pos))
            data = self._buf[:size]
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)
