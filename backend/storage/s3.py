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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TypeVar

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import get_cert_path

from backend.storage.base import CHUNK, ObjectInfo, Source, check_key, chunks_of, verify
from backend.storage.errors import ObjectMissing, StorageUnavailable
from backend.storage.memo import WHOLE, ObjectMemo
from backend.storage.reader import RangedReader

PART = 8 * 1024 * 1024  # multipart above this (S3: parts ≥ 5 MiB but the last)
MISSING = {"NoSuchKey", "404", "NotFound"}
T = TypeVar("T")


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


# Connections kept per process: ingest stores up to 8 originals at once (ingest/service.py) while the
# render threads and the hot path read; with botocore's default of 10 a busier moment discarded a
# connection after its request and the next one paid a new TCP handshake.
POOL_CONNECTIONS = 32
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


# GETs of small objects (previews, frame facts, originals read whole, frame ranges) go by a signed URL on
# a plain urllib3 pool instead of through boto3's call machinery (events, serialisers, response parsing).
# Measured, 100 GETs of a 26 kB preview from SeaweedFS: 1.0-1.1 ms of client CPU per get_object against
# 0.5 ms for signing a URL (0.1 ms) and sending it. The signature is SigV4 like every other request, made
# with the same credentials, valid for PRESIGN_S and used at once; it never leaves the process.
PRESIGN_S = 300
COUNTED: list[Callable[[str], None]] = []  # request counters (tests, benchmarks): see count_requests


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


def _http_pool(client: Any) -> urllib3.PoolManager:
    verify = getattr(getattr(client, "_endpoint", None), "http_session", None)
    bundle = getattr(verify, "_verify", True)
    return urllib3.PoolManager(
        maxsize=POOL_CONNECTIONS, block=False, timeout=urllib3.Timeout(connect=3, read=30),
        # as the client's "standard" retries (GET and PUT of whole bytes are idempotent): a connection
        # failure (a keep-alive connection the server closed meanwhile) or a 5xx once more
        retries=urllib3.Retry(total=1, connect=1, read=1, status=1, redirect=0, raise_on_status=False,
                              status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET", "PUT"})),
        cert_reqs="CERT_REQUIRED" if bundle is not False else "CERT_NONE",
        ca_certs=bundle if isinstance(bundle, str) else get_cert_path(True))


class _Bucket:
    """The client and the once-per-process bucket check, shared by every prefix of one bucket."""

    def __init__(self, name: str, client: Any) -> None:
        self.name, self.client = name, client
        self.http = _http_pool(client)
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


@contextmanager
def count_requests(store: S3ObjectStore) -> Iterator[dict[str, int]]:
    """Every request the store's process sends to its bucket, by S3 operation, while the block runs:
    boto3's (its event hooks) and the signed-URL GETs alike (tests and benchmarks count with this)."""
    seen: dict[str, int] = {}

    def note(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1

    def hook(model: Any, **_: Any) -> None:
        note(model.name)

    client = store._bucket.client
    client.meta.events.register("before-call.s3.*", hook)
    COUNTED.append(note)
    try:
        yield seen
    finally:
        COUNTED.remove(note)
        client.meta.events.unregister("before-call.s3.*", hook)


class S3ObjectStore:
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

    def _signed_get(self, key: str, full: str, *, span: str | None = None,
                    max_bytes: int | None = None) -> tuple[bytes | None, int | None]:
        """One GET by signed URL: (the body, or None when it is over ``max_bytes``; the total size from
        Content-Range when ranged). 404 → ObjectMissing; a range past the end (416) → b""; anything else
        that is not 200/206, or no answer → StorageUnavailable, as through boto3 (`_call`)."""
        for count in COUNTED:
            count("GetObject")
        try:
            self._bucket.ensure()
            url = self._bucket.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=PRESIGN_S)
            answer = self._bucket.http.request("GET", url, headers={"Range": span} if span else None,
                                               preload_content=False)
        except ClientError as exc:
            raise StorageUnavailable(f"the image store refused the request ({_code(exc) or 'error'})") from None
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None
        try:
            if answer.status == 404:
                raise ObjectMissing(key)
            if answer.status == 416:  # a range past the end (or an empty object): nothing to read
                return b"", 0
            if answer.status not in (200, 206):
                raise StorageUnavailable(f"the image store refused the request (HTTP {answer.status})")
            total = str(answer.headers.get("Content-Range", "")).rpartition("/")[2]
            length = int(answer.headers.get("Content-Length", -1))
            if max_bytes is not None and length > max_bytes:
                answer.close()  # not read: the connection is not reused
                return None, int(total) if total.isdigit() else length
            data = answer.read()
            if length >= 0 and len(data) != length:
                raise StorageUnavailable("the image store sent a short answer")
            return data, int(total) if total.isdigit() else len(data)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None
        finally:
            answer.release_conn()

    # -- writes -------------------------------------------------------------------------------------
    def put_bytes(self, *, key: str, data: bytes, sha256: str | None = None, durable: bool = True) -> None:
        full = self._k(key)
        if sha256 is not None:
            verify(hashlib.sha256(data), sha256)
        self._put(key, full, data)

    def _put(self, key: str, full: str, body: bytes) -> None:
        """One PUT by signed URL (as the GETs: 80 PUTs of a 26 kB preview cost 0.46-0.51 ms of client
        CPU against 0.79-0.86 through put_object; 525 kB: 1.0 against 1.2-1.5). Content-MD5 and the
        media type are signed headers: the server refuses the body if it does not match the MD5 (400
        BadDigest) and the request if either header was changed (403)."""
        for count in COUNTED:
            count("PutObject")
        headers = {"Content-MD5": _md5(body), "Content-Type": media_type(full)}
        try:
            self._bucket.ensure()
            url = self._bucket.client.generate_presigned_url(
                "put_object", ExpiresIn=PRESIGN_S,
                Params={"Bucket": self.bucket, "Key": full, "ContentMD5": headers["Content-MD5"],
                        "ContentType": headers["Content-Type"]})
            answer = self._bucket.http.request("PUT", url, body=body, headers=headers)
        except ClientError as exc:
            raise StorageUnavailable(f"the image store refused the request ({_code(exc) or 'error'})") from None
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None
        if answer.status != 200:
            raise StorageUnavailable(f"the image store refused the request (HTTP {answer.status})")

    def put_stream(self, *, key: str, source: Source, sha256: str | None = None) -> int:
        full = self._k(key)
        digest, pending, size = hashlib.sha256(), bytearray(), 0
        chunks = chunks_of(source)
        for data in chunks:  # small objects: one PUT after the hash was checked
            digest.update(data)
            pending += data
            size += len(data)
            if len(pending) >= PART:
                break
        else:
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
                digest.update(data)
                pending += data
                size += len(data)
                while len(pending) >= PART:
                    send(bytes(pending[:PART]))
                    del pending[:PART]
            if pending:
                send(bytes(pending))
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

    # -- reads --------------------------------------------------------------------------------------
    def get_bytes(self, *, key: str, max_bytes: int | None = None) -> bytes | None:
        data, _ = self._signed_get(key, self._k(key), max_bytes=max_bytes)
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
        """The object from memory, or fetched whole with one ranged GET when it is small (the answer's
        Content-Range says the total: RFC 9110 §14.4); None when it is large."""
        assert self._memo is not None
        found = self._memo.get(key)
        if found is not None or self._memo.large(key) is not None:
            return found
        data, total = self._signed_get(key, self._k(key), span=f"bytes=0-{WHOLE - 1}")
        if data is None or total is None or total > WHOLE:
            self._memo.note_large(key, total or WHOLE + 1)
            return None
        self._memo.put(key, data)
        return data

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
        data, _ = self._signed_get(key, self._k(key), span=span)  # 416 (past the end): b"", as a file reads
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
        full = self._k(key)
        return int(self._call(key, lambda c: c.head_object(Bucket=self.bucket, Key=full))["ContentLength"])

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
