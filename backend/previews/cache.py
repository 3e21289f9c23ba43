"""The derived-image cache on disk (`<data dir>/derived`): write a temp file, then rename it.

A reader only ever sees a complete file: files are written under a unique temporary name in the
target directory and renamed into place (POSIX rename is atomic within one file system), so a
worker killed mid-write (timeout, OOM kill, crash) leaves at most a stray `.tmp-*` file, which is
never served and is swept by `sweep_temp`. After a power loss a renamed file may lack data that
never reached the disk: `get` checks the end marker of each image and re-renders a short one.
Every path contains the renderer version (see spec.py):
a new renderer starts an empty tree, old trees can be deleted wholesale.

Used from the web process and from the render worker processes alike (no shared state).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from backend.storage.private import create_file, make_dirs

TMP_PREFIX = ".tmp-"
ERROR_SUFFIX = ".err"


def _ends_right(suffix: str, *, head: bytes, tail: bytes, size: int) -> bool:
    """A JPEG ends with EOI FF D9 (ITU T.81 B.2.1), a WebP RIFF header states the file's size (RIFF:
    size field + 8 bytes), JSON ends with '}' or ']'. `head`: the first 8 bytes, `tail`: the last 2."""
    if size == 0:
        return False
    if suffix == ".jpg":
        return tail[-2:] == b"\xff\xd9"
    if suffix == ".webp":
        return head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size
    if suffix == ".json":
        return tail[-1:] in (b"}", b"]")
    return True


def _complete(path: Path) -> bool:
    """Cheap end-of-file check of a file on disk (two small reads): `_ends_right`."""
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(max(0, size - 2))
        tail = fh.read(2)
    return _ends_right(path.suffix, head=head, tail=tail, size=size)


class DerivedCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, relpath: str) -> Path:
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise ValueError("relative cache paths only")
        return self.root / relpath

    def get(self, relpath: str) -> Path | None:
        """The cached file, if present and complete (see `_complete`)."""
        p = self.path(relpath)
        try:
            if _complete(p):
                return p
        except FileNotFoundError:
            return None
        except OSError:
            pass
        p.unlink(missing_ok=True)  # short after a power loss: render again
        return None

    def read(self, relpath: str, *, max_bytes: int) -> bytes | None:
        """The cached file's bytes when present, complete and at most `max_bytes` (one open, one
        read: the hot path of a cache hit). None otherwise; a short file is removed as in `get`."""
        p = self.path(relpath)
        try:
            with open(p, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError:
            return None
        if len(data) > max_bytes:
            return None
        if _ends_right(p.suffix, head=data[:8], tail=data[-2:], size=len(data)):
            return data
        p.unlink(missing_ok=True)
        return None

    def write(self, relpath: str, data: bytes, *, durable: bool = False) -> Path:
        """Atomic publish. No fsync by default: a killed process can never leave a partial file
        under the final name (the rename is the publish), and fsync cost ~9 ms per preview on this
        disk, more than the render. What fsync would add is power-loss safety; a derived file that
        was renamed before its data reached the disk is caught on read by `_complete` instead."""
        target = self.path(relpath)
        tmp = target.parent / f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}-{target.name}"
        try:
            try:
                fd = create_file(tmp)  # 0600 whatever the umask (storage/private.py)
            except FileNotFoundError:  # first file of its directory (mkdir only then: a syscall per write saved)
                make_dirs(target.parent)
                fd = create_file(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def write_error(self, relpath: str, detail: dict[str, Any]) -> None:
        """Remember a failure that is a property of the file (bad data, limits, timeout) so the
        same request does not burn a worker again; errors are versioned like the images."""
        self.write(relpath + ERROR_SUFFIX, json.dumps(detail, ensure_ascii=False).encode())

    def get_error(self, relpath: str, *, max_age_s: float = 3600.0) -> dict[str, Any] | None:
        """A remembered failure, for an hour: limits and load change, so failures are retried later."""
        p = self.get(relpath + ERROR_SUFFIX)
        if p is None:
            return None
        try:
            if p.stat().st_mtime < time.time() - max_age_s:
                return None
        except OSError:
            return None
        try:
            value = json.loads(p.read_bytes())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def sweep_temp(self, *, older_than_s: float = 3600.0) -> int:
        """Delete leftovers of interrupted writes (never referenced by anything)."""
        if not self.root.is_dir():
            return 0
        cutoff, removed = time.time() - older_than_s, 0
        for p in self.root.rglob(f"{TMP_PREFIX}*"):
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
