"""The object store as a local directory: the embedded default (``make run``).

A write goes to a temp file in ``<root>/.tmp`` → (fsync) → rename → fsync(directory), so a crash leaves
the whole object or none of it (POSIX rename is atomic within a file system). A stream that is already a
file on the same file system is hard-linked into ``.tmp`` instead of copied (ingest's spooled parts: the
commit stays a rename); a large batch of them takes the same steps with one syncfs(2) per step instead of
an fsync per file and per directory (``put_files``). Everything is owner-only (storage/private.py). Disk
errors other than a missing object become :class:`StorageUnavailable` (503 + Retry-After), like an S3
outage.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from backend.storage.base import CHUNK, ObjectInfo, Source, Spooled, check_key, chunks_of, verify
from backend.storage.errors import ChecksumMismatch, ObjectMissing, StorageUnavailable
from backend.storage.private import make_dirs, private_dir

STALE_TEMP_SECONDS = 6 * 3600.0
HIDDEN = (".tmp", ".health")


def _fsync(path: Path) -> None:
    """fsync a directory or a file through a read-only descriptor (what Linux allows for both)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_libc = ctypes.CDLL(None, use_errno=True)  # ctypes releases the GIL around the call
SYNCFS_FILES = 8  # batches of at least this many spooled files are made durable by syncfs(2) (put_files)


def _syncfs(fd: int) -> None:
    """syncfs(2) of the file system holding ``fd``: every dirty page and inode of it written and the disk's
    cache flushed before it returns. Since Linux 5.8 it reports a writeback error of that file system seen
    since ``fd`` was opened (errseq), so open ``fd`` before writing what it is to make durable."""
    if _libc.syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_TEMP_SEQ = itertools.count()  # next() is atomic under the GIL: no two threads get the same number

SYNC_THREADS = 16  # per process: 8 for each of two batches storing at once (before round 4: 8 per batch)
T = TypeVar("T")
R = TypeVar("R")

_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child starts its own
_pool_lock = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    """The process's threads for the batches' links and fsyncs, started on first use and kept: a pool
    started and joined for every call (twice per STOW batch) spent ~5 % of ingest's samples starting
    threads (docs/ingest.md, round 4)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="yunying-sync"))
        return _pool[1]


def _each(action: Callable[[T], R], items: list[T]) -> list[R]:
    """``action`` on every item from the process's pool; when every item has run, the first error is raised
    (as a pool's ``map`` inside its ``with`` did: the items' own cleanup has happened by then)."""
    if len(items) <= 1:
        return [action(item) for item in items]
    pool = _sync_pool()
    futures = [pool.submit(action, item) for item in items]
    wait(futures)
    return [future.result() for future in futures]


class _FromSource(Exception):
    """An error of the caller's stream (a client gone): passed on as it is, not as a storage failure."""

    def __init__(self, inner: BaseException) -> None:
        self.inner = inner


def _pulled(source: Source) -> Iterator[bytes]:
    chunks = chunks_of(source)
    while True:
        try:
            data = next(chunks)
        except StopIteration:
            return
        except Exception as exc:
            raise _FromSource(exc) from exc
        yield data


@contextmanager
def _errors(key: str) -> Iterator[None]:
    try:
        yield
    except _FromSource as wrapped:
        raise wrapped.inner from None
    except FileNotFoundError:
        raise ObjectMissing(key) from None
    except IsADirectoryError:
        raise ObjectMissing(key) from None
    except OSError as exc:
        raise StorageUnavailable(f"the image store failed: {errno.errorcode.get(exc.errno or 0, 'EIO')}") from None


class LocalObjectStore:
    probe_before_put = True  # a rewrite of existing bytes is a copy plus an fsync (storage/base.py)

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.locator = str(self.root)
        self._tmp: Path | None = None

    @property
    def tmp(self) -> Path:
        """Created on first write: a read-only store (a listing, a sweep) leaves no trace."""
        if self._tmp is None:
            private_dir(self.root)  # owner-only, as every directory the service writes (storage/private.py)
            tmp = self.root / ".tmp"
            private_dir(tmp)
            self._tmp = tmp
            self.sweep_temp()
        return self._tmp

    def prefetch(self, *, key: str) -> None:
        """Nothing: a file read costs less than handing it to a thread (base.py)."""

    def sub(self, prefix: str) -> LocalObjectStore:
        return LocalObjectStore(self.root / check_key(prefix.strip("/")))

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] in HIDDEN:
            raise ValueError("bad object key")
        return self.root / key

    def sweep_temp(self, *, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Remove temp files a killed process left behind. Only old ones: another worker may be
        streaming into a fresh one right now (its mtime moves while it writes)."""
        cutoff, removed = time.time() - older_than, 0
        tmp = self.root / ".tmp"
        if not tmp.is_dir():
            return 0
        for entry in tmp.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue  # raced with its owner; harmless
        return removed

    def _commit(self, tmp_path: Path, key: str, *, durable: bool) -> None:
        target = self._path(key)
        try:
            os.replace(tmp_path, target)
        except FileNotFoundError:  # first object of its directory: mkdir only then (a syscall per write saved)
            make_dirs(target.parent)
            os.replace(tmp_path, target)
        if durable:
            _fsync(target.parent)

    def put_bytes(self, *, key: str, data: bytes, sha256: str | None = None, durable: bool = True) -> None:
        self._path(key)
        if sha256 is not None:
            verify(hashlib.sha256(data), sha256)
        with _errors(key):
            fd, tmp_path = self._temp_file()
            try:
                try:
                    _write_all(fd, data)
                    if durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                self._commit(tmp_path, key, durable=durable)
            except BaseException:
                tmp_path.unlink(missing_ok=True)
                raise

    def _temp_file(self) -> tuple[int, Path]:
        """A new owner-only temp file in ``.tmp``, opened for writing. Named by process and a counter
        rather than by ``tempfile.mkstemp``'s random letters: every cold preview is one of these writes,
        and mkstemp's name drawing and file object cost ~50-70 µs of CPU per write on this machine
        (docs/capacity.md). O_EXCL still refuses a leftover of an earlier process with the same pid;
        then mkstemp picks a name."""
        name = self.tmp / f"blob-{os.getpid()}-{next(_TEMP_SEQ)}"
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            fd, other = tempfile.mkstemp(dir=self.tmp, prefix="blob-")  # 0600
            return fd, Path(other)

    def _link(self, source: Source) -> Path | None:
        """A hard link in .tmp to ``source`` when it is a plain file on this file system (no copy)."""
        name = getattr(source, "name", None)
        if not isinstance(name, str) or not hasattr(source, "fileno"):
            return None
        return self._hard_link(Path(name))

    def _hard_link(self, path: Path) -> Path | None:
        """A hard link in .tmp to ``path``, or None when the file system refuses one (another device)."""
        link = self.tmp / f"link-{os.getpid()}-{next(_TEMP_SEQ)}"
        try:
            os.link(path, link)
        except OSError:
            return None
        return link

    def put_stream(self, *, key: str, source: Source, sha256: str | None = None) -> int:
        self._path(key)
        with _errors(key):
            staged, size = self._stage(source, sha256)
            try:
                self._commit(staged, key, durable=True)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
            return size

    def put_files(self, *, files: Sequence[Spooled]) -> list[bool]:
        """Store several spooled files of this file system at once (ingest's parts). Returns per file True
        (durable under its key) or False (its size is no longer the one hashed: not stored).

        The SHA-256 is the caller's, taken over the bytes as it wrote them into a file that only it
        writes (:class:`Spooled`). The file is not read again to hash it a second time: that would hash
        the same page-cache pages the write left behind and prove nothing the first hash did not, for a
        third of the store's CPU (docs/ingest.md, round 4). What is checked here is the size, by an fstat
        of the linked file (a file cut short or grown since it was hashed is refused). A file that is not
        on this file system is copied and its copy hashed and verified, as :meth:`put_stream` does.

        Each file goes temp → fsync → rename → fsync(directory), phased over the batch: the files are
        linked into ``.tmp`` and fsynced from a few threads at once (fsync releases the GIL; concurrent
        fsyncs share the journal's commits on ext4/XFS), then renamed, then every directory is fsynced
        once, again from a few threads (one journal commit covers all the renames made before it). A batch
        of ``SYNCFS_FILES`` or more takes the same steps with one syncfs(2) for each phase instead
        (:meth:`_put_files_together`)."""
        for item in files:
            self._path(item.key)
        if len(files) >= SYNCFS_FILES:
            together = self._put_files_together(files)
            if together is not None:
                return together

        def stage(item: Spooled) -> Path | BaseException | None:
            try:
                return self._stage_spooled(item)
            except ChecksumMismatch:
                return None
            except Exception as exc:  # noqa: BLE001 - every staged file is removed, then it is raised
                return exc

        with _errors(files[0].key if files else ""):
            staged = _each(stage, list(files))
            try:
                failed = next((r for r in staged if isinstance(r, BaseException)), None)
                if failed is not None:
                    raise failed
                directories: dict[Path, None] = {}
                for item, temp in zip(files, staged, strict=True):
                    if isinstance(temp, Path):
                        self._commit(temp, item.key, durable=False)
                        directories[self._path(item.key).parent] = None
                _each(_fsync, list(directories))
            except BaseException:
                _unlink_all(staged)  # those already renamed are not in .tmp any more
                raise
        return [isinstance(temp, Path) for temp in staged]

    def _put_files_together(self, files: Sequence[Spooled]) -> list[bool] | None:
        """:meth:`put_files` of a large batch with two syncfs(2) calls instead of two fsyncs per file: the
        files are hard-linked into ``.tmp`` (size checked), one syncfs makes their bytes durable, then they
        are renamed, and a second syncfs makes the renames durable — the same order as one file's temp →
        fsync → rename → fsync(directory), for the whole batch at once. Measured on a 2-core machine with
        two workers and four clients: 50 fsyncs per 25 files, each a disk cache flush and a thread's
        hand-over of the GIL, cost more CPU and waited longer than two syncfs (docs/ingest.md round 7).
        The price: a syncfs also writes whatever else is dirty on that file system (an ingest node keeps its
        data directory on a volume of its own; other uploads' spooled parts are written out a little early).
        Returns None, having left nothing behind, when a file cannot be hard-linked (the spool is on another
        file system): the per-file path copies and verifies it."""
        staged: list[Path | None] = []
        with _errors(files[0].key):
            # opened before the writes it is to report on; .tmp (made on first use) is on the same file system
            root = os.open(self.tmp, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for item in files:
                    link = self._hard_link(item.path)
                    if link is None:
                        _unlink_all(staged)
                        return None
                    if os.stat(link).st_size != item.size:  # cut short or grown since it was hashed: refused
                        link.unlink(missing_ok=True)
                        link = None
                    staged.append(link)
                _syncfs(root)
                for item, temp in zip(files, staged, strict=True):
                    if temp is not None:
                        self._commit(temp, item.key, durable=False)
                _syncfs(root)
            except BaseException:
                _unlink_all(staged)  # those already renamed are not in .tmp any more
                raise
            finally:
                os.close(root)
        return [temp is not None for temp in staged]

    def _stage_spooled(self, item: Spooled) -> Path:
        """A fsynced hard link in ``.tmp`` to the spooled file, refused (ChecksumMismatch) when its size is
        not the one hashed; a verified copy when the file is on another file system."""
        link = self._hard_link(item.path)
        if link is None:
            with open(item.path, "rb") as source:
                return self._stage(source, item.sha256)[0]
        try:
            fd = os.open(link, os.O_RDONLY)
            try:
                if os.fstat(fd).st_size != item.size:
                    raise ChecksumMismatch("the spooled file changed size after it was hashed; nothing was stored")
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            link.unlink(missing_ok=True)
            raise
        return link

    def _stage(self, source: Source, sha256: str | None) -> tuple[Path, int]:
        """The source's bytes in a fsynced temp file of ``.tmp`` whose SHA-256 was checked: a hard link
        when the source is a file here (its bytes re-read for the hash: a caller's file it did not write
        itself; ingest's spooled parts take :meth:`_stage_spooled`), else a copy. The caller commits or unlinks it."""
        linked = self._link(source)
        out: BinaryIO
        chunks: Iterator[bytes] | None
        if linked is not None:
            staged, out, chunks = linked, open(linked, "rb+"), None  # closed by the with below
        else:
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="blob-")  # 0600
            staged, out, chunks = Path(name), os.fdopen(fd, "wb"), _pulled(source)
        try:
            digest, size = hashlib.sha256(), 0
            with out:
                for data in chunks if chunks is not None else chunks_of(out):
                    digest.update(data)
                    size += len(data)
                    if chunks is not None:
                        out.write(data)
                out.flush()
                os.fsync(out.fileno())
            verify(digest, sha256)
            return staged, size
        except BaseException:
            staged.unlink(missing_ok=True)
            raise

    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        """The whole object; None when it is larger than ``max_bytes`` (one open, one read)."""
        path = self._path(key)
        with _errors(key), open(path, "rb") as fh:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        return None if max_bytes is not None and len(data) > max_bytes else data

    def iter_bytes(self, *, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        path = self._path(key)
        with _errors(key):
            fh = open(path, "rb")  # opened now: a missing object fails here, before a response starts
        return _iter_file(fh, chunk)

    def read_range(self, *, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative range")
        path = self._path(key)
        with _errors(key):
            fd = os.open(path, os.O_RDONLY)
            try:
                return os.pread(fd, length, offset)
            finally:
                os.close(fd)

    def open(self, *, key: str, size: int | None = None) -> BinaryIO:
        path = self._path(key)
        with _errors(key):
            return open(path, "rb")

    def size(self, *, key: str) -> int:
        path = self._path(key)
        with _errors(key):
            if not path.is_file():
                raise FileNotFoundError(key)
            return path.stat().st_size

    def exists(self, *, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, *, key: str) -> None:
        with _errors(key):
            self._path(key).unlink(missing_ok=True)

    def list(self, *, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in no particular order (walks the deepest folder
        the prefix names)."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder if folder else self.root
        if folder:
            check_key(folder)
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            here = Path(dirpath)
            if here == self.root:
                dirnames[:] = [d for d in dirnames if d not in HIDDEN]
            for name in filenames:
                path = here / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or name.startswith(".tmp-"):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue  # deleted while we walked
                yield ObjectInfo(key=key, size=st.st_size, modified=st.st_mtime)

    def check(self) -> None:
        """Raises StorageUnavailable unless the store durably writes and reads back."""
        key = ".health/probe"
        target = self.root / key
        with _errors(key):
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="probe-")
            with os.fdopen(fd, "wb") as out:
                out.write(b"ok")
                out.flush()
                os.fsync(out.fileno())
            make_dirs(target.parent)
            os.replace(name, target)
            if target.read_bytes() != b"ok":
                raise OSError(errno.EIO, "read back different bytes")


def _unlink_all(staged: Sequence[object]) -> None:
    """Remove the temp files among ``staged`` (the paths; a refused file's None or a stage's error is skipped)."""
    for temp in staged:
        if isinstance(temp, Path):
            temp.unlink(missing_ok=True)


def _iter_file(fh: BinaryIO, chunk: int) -> Iterator[bytes]:
    with fh:
        while data := fh.read(chunk):
            yield data
