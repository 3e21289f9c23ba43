"""Which object store the service uses (``YUNYING_STORAGE_URL``) and its areas.

* unset → the data dir (``<data dir>/blobs``, ``<data dir>/derived`` … exactly the layout of earlier
  versions);
* a directory → that directory;
* ``s3://BUCKET[/prefix]`` → the S3 API (endpoint and credentials: the AWS_* variables, s3.py).

One root, several areas (prefixes) with their own rules: ``blobs`` (originals, content-addressed, never
swept), ``meta`` (series metadata documents, rewritten when a series changes), ``derived`` (previews,
strips, frame facts: swept by age and renderer version) and ``pdf`` (rendered documents, by the hash of
their bytes). Stores are cached per process, so render workers reopen one by its locator.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore
from backend.storage.private import private_dir

BlobStore = ObjectStore  # the name callers used before stores had other areas than originals

ORIGINALS, META, DERIVED, PDF = "blobs", "meta", "derived", "pdf"
BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass(frozen=True)
class Storage:
    root: ObjectStore

    @property
    def originals(self) -> ObjectStore:
        return self.area(ORIGINALS)

    @property
    def meta(self) -> ObjectStore:
        return self.area(META)

    @property
    def derived(self) -> ObjectStore:
        return self.area(DERIVED)

    @property
    def pdf(self) -> ObjectStore:
        return self.area(PDF)

    def area(self, name: str) -> ObjectStore:
        return _area(self.root.locator, name)


def parse_url(url: str | None, *, data_dir: Path) -> str:
    """The root locator: an absolute directory or ``s3://bucket/prefix``. ValueError names what is wrong."""
    if not url:
        return str(Path(data_dir).resolve())
    if url.startswith("s3://"):
        bucket = url[5:].split("/", 1)[0]
        if not (3 <= len(bucket) <= 63 and all(c in BUCKET_CHARS for c in bucket)):  # S3 bucket naming rules
            raise ValueError("s3://BUCKET[/prefix] with a valid bucket name (3-63 letters, digits, '-' or '.')")
        return url.rstrip("/")
    if "://" in url and not url.startswith("file://"):
        raise ValueError("a local directory or s3://BUCKET[/prefix]")
    return str(Path(url.removeprefix("file://")).resolve())


@lru_cache(maxsize=64)
def open_store(locator: str) -> ObjectStore:
    """The store a locator names, one per process (boto3 clients are thread-safe and reused)."""
    if locator.startswith("s3://"):
        from backend.storage.s3 import S3ObjectStore  # boto3 is imported only where S3 is used

        bucket, _, prefix = locator[5:].partition("/")
        return S3ObjectStore(bucket=bucket, prefix=prefix)
    return LocalObjectStore(Path(locator))


@lru_cache(maxsize=64)
def _area(root_locator: str, name: str) -> ObjectStore:
    return open_store(root_locator).sub(name)


def storage_at(locator: str) -> Storage:
    return Storage(root=open_store(locator))


def storage_for(*, storage_url: str | None, data_dir: Path) -> Storage:
    return storage_at(parse_url(storage_url, data_dir=data_dir))


def scratch_dir(*, data_dir: Path) -> Path:
    """Node-local scratch for request bodies while they are received and parsed (``<data dir>/spool``).
    Nothing in it outlives its request, so no other node ever needs it; with the local store it sits on
    the same file system as the objects, and a put of a spooled file is a hard link, not a copy."""
    path = Path(data_dir) / "spool"
    private_dir(path)
    return path
