"""The object store on the S3 API (boto3): SeaweedFS in tests, Ceph RGW or a cloud's S3 in production.

Endpoint and credentials come from the standard variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``); addressing is path-style (``http://host/bucket/key``:
works with an IP endpoint and every S3 server). The bucket is created on first use when missing.

Atomic writes come with the API: a PUT or a completed multipart upload is visible whole or not at all.
The SHA-256 the caller states is checked before the object is made visible (a single PUT is sent only
after its bytes hashed right; a multipart upload is aborted instead of completed); each request also
carries Content-MD5, which the server checks against what arrived (RFC 1864). Connection failures,
timeouts, 5xx and refused credentials become :class:`StorageUnavailable` (503 + Retry-After).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.storage import signed
from backend.storage.base import CHUNK, ObjectInfo, Source, Spooled, check_key, chunks_of, verify
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.memo import WHOLE, ObjectMemo
from backend.storage.reader import RangedReader

PART = 8 * 1024 * 1024  # multipart above this (S3: parts ≥ 5 MiB but the last)
MISSING = {"NoSuchKey", "404", "NotFound"}
PUT_THREADS = 8  # put_files: PUTs in flight at once
# Prefetches (S3ObjectStore.prefetch) in flight at once per process, and how long a read waits for one
# before it asks the store itself (a GET's own read timeout is 30 s: signed.http_pool).
PREFETCH_THREADS = 4
FETCH_WAIT_S = 35.0
T = TypeVar("T")
_prefetch_pool: ThreadPoolExecutor | None = None
_prefetch_lock = threading.Lock()


def _prefetcher() -> ThreadPoolExecutor:
    """Made on first use, so a render worker forked from the web process starts its own threads."""
    global _prefetch_pool
    with _prefetch_lock:
        if _prefetch_pool is None:
            _prefetch_pool = ThreadPoolExecutor(max_workers=PREFETCH_THREADS, thread_name_prefix="yy-s3-prefetch")
        return _prefetch_pool


def _forget_prefetcher_in_child() -> None:
    global _prefetch_pool, _prefetch_lock
    _prefetch_pool, _prefetch_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_prefetcher_in_child)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


# Connections kept per process: ingest stores up to 8 originals at once (ingest/service.py) while the
# render threads and the hot path read; with botocore's default of 10 a busier moment discarded a
# connection after its request and the next one paid a new TCP handshake.
POOL_CONNECTIONS = signed.POOL_CONNECTIONS
# Media types by key suffix. Every PUT states one: without it SeaweedFS sniffs the first 128 bytes and
# gzips the whole object when they compress well — a DICOM file's preamble is 128 zero bytes, so every
# original was gzipped on write and gunzipped on each read (measured: ~1 ms of server CPU per 512x512 CT
# slice on write; the stored bytes are unchanged for the client).
MEDIA_TYPES = {".jpg": "image/jpeg", ".webp": "image/webp", ".json": "application/json", ".pdf": "application/pdf",
               ".gz": "application/gzip", ".zst": "application/zstd", ".zip": "application/zip"}
OCTETS = "application/octet-stream"


def media_type(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return MEDIA_TYPES.get("." + name.rsplit(".", 1)[-1], OCTETS) if "." in name else OCTETS


def make_client() -> Any:
    config = Config(
        s3={"addressing_style": "path",
            # The body is protected by Content-MD5, a signed header the server checks (RFC 1864), so
            # SigV4 need not hash it a third time (after our SHA-256 and the MD5): on plain HTTP botocore
            # otherwise computes x-amz-content-sha256 of every body (~1.3 ms per 512 kB, CPU).
            "payload_signing_enabled": False},
        connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=POOL_CONNECTIONS, tcp_keepalive=True,
        # Content-MD5 instead of the newer default CRC trailers, which not every S3 server speaks.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        parameter_validation=False,  # our calls are fixed in code; validating each costs CPU per request
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1", config=config)


class _Bucket:
    """The client and the once-per-process bucket check, shared by every prefix of one bucket."""

    def __init__(self, name: str, client: Any) -> None:
        self.name, self.client = name, client
        self.http = signed.http_pool(client)
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.client.head_bucket(Bucket=self.name)
            except ClientError as exc:
                if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                try:
                    self.client.create_bucket(Bucket=self.name)
                except ClientError as again:  # another node made it first
                    if _code(again) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._ready = True


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_BUCKETS: dict[str, _Bucket] = {}
_BUCKETS_LOCK = threading.Lock()


def _shared_bucket(name: str) -> _Bucket:
    """One client (one connection pool) per bucket and process, whichever prefix a store uses."""
    with _BUCKETS_LOCK:
        found = _BUCKETS.get(name)
        if found is None:
            found = _BUCKETS[name] = _Bucket(name, make_client())
        return found


class S3ObjectStore:
    # Ingest stores each new original without a HEAD first (storage/base.py): a PUT of bytes already at
    # their content address rewrites them with themselves (atomic, RFC 9110 §9.3.4 idempotent), which
    # happens only when no index row refers to them yet (another hospital's copy, a crash's leftover).
    probe_before_put = False

    def __init__(self, *, bucket: str, prefix: str = "", client: Any = None, _shared: _Bucket | None = None) -> None:
        self._bucket = _shared or (_Bucket(bucket, client) if client is not None else _shared_bucket(bucket))
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._memo: ObjectMemo | None = None
        self.locator = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @property
    def bucket(self) -> str:
        return self._bucket.name

    def sub(self, prefix: str) -> S3ObjectStore:
        return S3ObjectStore(bucket=self.bucket, prefix=self.prefix + check_key(prefix.strip("/")),
                             _shared=self._bucket)

    def _call(self, key: str, fn: Callable[[Any], T]) -> T:
        try:
            self._bucket.ensure()
            return fn(self._bucket.client)
        except ClientError as exc:
            code = _code(exc)
            if code in MISSING:
                raise ObjectMissing(key) from None
            raise StorageUnavailable(f"the image store refused the request ({code or 'error'})") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- writes -------------------------------------------------------------------------------------
    def put_bytes(self, *, key: str, data: bytes, sha256: str | None = None, durable: bool = True) -> None:
        full = self._k(key)
        if sha256 is not None:
            verify(hashlib.sha256(data), sha256)
        self._put(key, full, data)

    def _put(self, key: str, full: str, body: bytes) -> None:
        """One PUT by signed URL (signed.py), Content-MD5 and the media type signed."""
        signed.put(self._bucket, key=key, full=full, body=body,
                   headers={"Content-MD5": _md5(body), "Content-Type": media_type(full)})

    def put_stream(self, *, key: str, source: Source, sha256: str | None = None) -> int:
        full = self._k(key)
        # no SHA-256 stated (put_files: the caller hashed the bytes as it wrote them): none taken
        digest, pending, size = hashlib.sha256() if sha256 is not None else None, bytearray(), 0
        chunks = chunks_of(source)
        for data in chunks:  # small objects: one PUT after the hash was checked
            if digest is not None:
                digest.update(data)
            pending += data
            size += len(data)
            if len(pending) >= PART:
                break
        else:
            if digest is not None:
                verify(digest, sha256)
            self._put(key, full, bytes(pending))
            return size
        upload = self._call(key, lambda c: c.create_multipart_upload(Bucket=self.bucket, Key=full,
                                                                     ContentType=media_type(full)))["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            def send(body: bytes) -> None:
                number = len(parts) + 1
                answer = self._call(key, lambda c: c.upload_part(Bucket=self.bucket, Key=full, UploadId=upload,
                                                                  PartNumber=number, Body=body, ContentMD5=_md5(body)))
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})

            for data in chunks:
                if digest is not None:
                    digest.update(data)
                pending += data
                size += len(data)
                while len(pending) >= PART:
                    send(bytes(pending[:PART]))
                    del pending[:PART]
            if pending:
                send(bytes(pending))
            if digest is not None:
                verify(digest, sha256)  # before completing: a wrong upload never becomes visible
            self._call(key, lambda c: c.complete_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload,
                                                                  MultipartUpload={"Parts": parts}))
        except BaseException:
            try:
                self._bucket.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload)
            except (ClientError, BotoCoreError):
                pass  # the store is down: its lifecycle rule (docs/storage.md) drops stale uploads
            raise
        return size

    def put_files(self, *, files: Sequence[Spooled]) -> list[bool]:
        """Several spooled files at once (ingest's parts), from a few threads (each PUT waits on the network,
        not on the GIL). True per stored file, False when its size is no longer the one hashed (not stored).
        The SHA-256 is the caller's, taken as it wrote the file (storage/base.py ``Spooled``): not taken a
        second time here. What arrives is checked by the server: every PUT carries the Content-MD5 of the
        bytes sent (RFC 1864), and a file whose length is not the one hashed is never sent."""

        def put(item: Spooled) -> bool:
            with open(item.path, "rb") as source:
                if os.fstat(source.fileno()).st_size != item.size:
                    return False
                self.put_stream(key=item.key, source=source, sha256=None)
            return True

        if len(files) <= 1:
            return [put(item) for item in files]
        with ThreadPoolExecutor(max_workers=min(PUT_THREADS, len(files))) as pool:
            return list(pool.map(put, files))

    # -- reads --------------------------------------------------------------------------------------
    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        data, _ = signed.get(self._bucket, key=key, full=self._k(key), max_bytes=max_bytes)
        return data

    def iter_bytes(self, *, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        full = self._k(key)
        answer = self._call(key, lambda c: c.get_object(Bucket=self.bucket, Key=full))
        return self._stream(key, answer["Body"], chunk)

    def _stream(self, key: str, body: Any, chunk: int) -> Iterator[bytes]:
        with body:
            while True:
                data = self._call(key, lambda c: body.read(chunk))
                if not data:
                    return
                yield data

    def remember_objects(self) -> S3ObjectStore:
        """Keep whole small objects in memory (storage/memo.py): only for an area whose objects never
        change (the originals, content-addressed)."""
        self._memo = ObjectMemo()
        return self

    def _whole(self, key: str) -> bytes | None:
        """The object from memory, or fetched whole with one ranged GET when it is small; None when it
        is large. A fetch of the key already under way (a prefetch) is waited for, not repeated."""
        assert self._memo is not None
        found = self._memo.get(key)
        if found is not None or self._memo.large(key) is not None:
            return found
        future, mine = self._memo.claim(key)
        if mine:
            return self._fill(key, future)
        try:
            return future.result(timeout=FETCH_WAIT_S)
        except Exception:  # noqa: BLE001 - that fetch failed or hangs: this read asks the store itself
            return self._fetch_whole(key)

    def _fetch_whole(self, key: str) -> bytes | None:
        """One ranged GET of the first WHOLE bytes; the answer's Content-Range says the total (RFC 9110
        §14.4), so a small object comes back whole and a large one is noted as large."""
        assert self._memo is not None
        data, total = signed.get(self._bucket, key=key, full=self._k(key), span=f"bytes=0-{WHOLE - 1}")
        if data is None or total is None or total > WHOLE:
            self._memo.note_large(key, total or WHOLE + 1)
            return None
        self._memo.put(key, data)
        return data

    def _fill(self, key: str, future: Future[bytes | None]) -> bytes | None:
        assert self._memo is not None
        try:
            data = self._fetch_whole(key)
        except BaseException as exc:
            self._memo.settle(key, future, error=exc)
            raise
        self._memo.settle(key, future, data=data)
        return data

    def prefetch(self, *, key: str) -> None:
        """Start fetching a small original whole on a thread of this process (base.py): a cold preview
        asks the derived cache for its image while this GET is under way, so its path waits for one
        round trip instead of two. Only for an area that remembers objects (the originals); a read that
        comes meanwhile waits for this fetch; its failure is the read's to meet again, never raised here."""
        memo = self._memo
        if memo is None or memo.get(key) is not None or memo.large(key) is not None:
            return
        future, mine = memo.claim(key)
        if mine:
            _prefetcher().submit(self._fill_quietly, key, future)

    def _fill_quietly(self, key: str, future: Future[bytes | None]) -> None:
        try:
            self._fill(key, future)
        except Exception:  # noqa: BLE001, S110 - kept on the future; the read that needs the bytes retries
            pass

    def read_range(self, *, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative range")
        if length == 0:
            return b""
        if self._memo is not None:
            whole = self._whole(key)
            if whole is not None:
                return whole[offset:offset + length]
        span = f"bytes={offset}-{offset + length - 1}"  # RFC 9110 §14.1.2: last byte inclusive
        # a range past the end (416) reads nothing, as a file does
        data, _ = signed.get(self._bucket, key=key, full=self._k(key), span=span)
        return data or b""

    def open(self, *, key: str, size: int | None = None) -> BinaryIO:
        """A seekable reader; ``size`` when the caller knows it (the index row) saves a HEAD request."""
        if self._memo is not None:
            whole = self._whole(key)
            if whole is not None:
                return io.BytesIO(whole)
            size = self._memo.large(key) if size is None else size
        size = self.size(key=key) if size is None else size
        reader = RangedReader(size=size, read_range=lambda o, n: self.read_range(key=key, offset=o, length=n),
                              name=key)
        return reader  # type: ignore[return-value]

    def size(self, *, key: str) -> int:
        """One HEAD by signed URL (ingest asks it of every original before storing it)."""
        return signed.head(self._bucket, key=key, full=self._k(key))

    def exists(self, *, key: str) -> bool:
        try:
            self.size(key=key)
        except ObjectMissing:
            return False
        return True

    def delete(self, *, key: str) -> None:
        full = self._k(key)
        self._call(key, lambda c: c.delete_object(Bucket=self.bucket, Key=full))

    def list(self, *, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._call(prefix, lambda c: c.get_paginator("list_objects_v2"))
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
        while True:
            page = self._call(prefix, lambda c: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                yield ObjectInfo(key=item["Key"][len(self.prefix):], size=int(item["Size"]),
                                 modified=item["LastModified"].timestamp())

    def check(self) -> None:
        """Raises StorageUnavailable unless the bucket answers (and exists: made when missing)."""
        self._call("", lambda c: c.head_bucket(Bucket=self.bucket))
