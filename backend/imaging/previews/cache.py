"""The derived-image cache on disk (`<data dir>/derived`): write temp → fsync → rename.

A reader only ever sees a complete file: files are written under a unique temporary name in the
target directory and renamed into place (POSIX rename is atomic within one file system), so a
worker killed mid-write (timeout, OOM, power loss) leaves at most a stray `.tmp-*` file, which is
never served and is swept by `sweep_temp`. Every path contains the renderer version (see spec.py):
a new renderer starts an empty tree, old trees can be deleted wholesale.

Used from the web process and from the render worker processes alike (no shared state).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"
ERROR_SUFFIX = ".err"


class DerivedCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, relpath: str) -> Path:
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise ValueError("relative cache paths only")
        return self.root / relpath

    def get(self, relpath: str) -> Path | None:
        p = self.path(relpath)
        return p if p.is_file() else None

    def write(self, relpath: str, data: bytes) -> Path:
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}-{target.name}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
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

    def get_error(self, relpath: str) -> dict[str, Any] | None:
        p = self.get(relpath + ERROR_SUFFIX)
        if p is None:
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
