"""Requests to S3 by signed URL on a plain urllib3 pool: the store's GETs, HEADs and single PUTs.

Why: boto3's call machinery (events, serialisers, response parsing) costs about a millisecond of CPU per
request, as much as rendering a preview. Measured against SeaweedFS on this machine: 100 GETs of a
26 kB preview, 1.0-1.1 ms of client CPU per get_object against 0.5 ms for signing a URL (0.1 ms) and
sending it (wall 4.0-7.0 -> 2.3-2.5 ms); 80 PUTs of 26 kB, 0.79-0.86 -> 0.46-0.51 ms; 525 kB,
1.2-1.5 -> 1.0 ms. The signature is SigV4 like every boto3 request, made by the same client with the
same credentials, valid for PRESIGN_S and used at once: the URL never leaves the process. A PUT's
Content-MD5 and media type are signed headers, so the server refuses a body that does not match its
MD5 (400 BadDigest, RFC 1864) and a request whose headers were changed (403).

Failures map as through boto3 (s3.py `_call`): 404 -> ObjectMissing; a range past the end (416) ->
nothing; any other answer but 2xx, or none -> StorageUnavailable (503 + Retry-After). A connection
failure (a keep-alive connection the server closed meanwhile) or a 5xx is retried once, as the
client's "standard" retries did: a GET, a HEAD and a PUT of whole bytes are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import get_cert_path

from backend.storage.errors import ChecksumMismatch, ObjectMissing, StorageUnavailable

PRESIGN_S = 300
POOL_CONNECTIONS = 32  # as the boto3 client's pool (s3.py)
COUNTED: list[Callable[[str], None]] = []  # request counters (tests, benchmarks): see count_requests


def http_pool(client: Any) -> urllib3.PoolManager:
    """The pool of one bucket's process, verifying TLS as the client does (its CA bundle)."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    bundle = getattr(session, "_verify", True)
    return urllib3.PoolManager(
        maxsize=POOL_CONNECTIONS, block=False, timeout=urllib3.Timeout(connect=3, read=30),
        retries=urllib3.Retry(total=1, connect=1, read=1, status=1, redirect=0, raise_on_status=False,
                              status_forcelist=(500, 502, 503, 504),
                              allowed_methods=frozenset({"GET", "HEAD", "PUT"})),
        cert_reqs="CERT_REQUIRED" if bundle is not False else "CERT_NONE",
        ca_certs=bundle if isinstance(bundle, str) else get_cert_path(True))


def _send(bucket: Any, operation: str, method: str, params: dict[str, Any], **kwargs: Any) -> Any:
    for count in COUNTED:
        count(operation)
    name = {"GetObject": "get_object", "HeadObject": "head_object", "PutObject": "put_object"}[operation]
    try:
        bucket.ensure()
        url = bucket.client.generate_presigned_url(name, Params={"Bucket": bucket.name, **params},
                                                   ExpiresIn=PRESIGN_S)
        return bucket.http.request(method, url, **kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise StorageUnavailable(f"the image store refused the request ({code or 'error'})") from None
    except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
        raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None


def get(bucket: Any, *, key: str, full: str, span: str | None = None,
        max_bytes: int | None = None) -> tuple[bytes | None, int | None]:
    """One GET: (the body, or None when it is over ``max_bytes``; the total size, from Content-Range
    when ranged)."""
    answer = _send(bucket, "GetObject", "GET", {"Key": full}, headers={"Range": span} if span else None,
                   preload_content=False)
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
        data: bytes = answer.read()
        if length >= 0 and len(data) != length:
            raise StorageUnavailable("the image store sent a short answer")
        return data, int(total) if total.isdigit() else len(data)
    except urllib3.exceptions.HTTPError as exc:
        raise StorageUnavailable(f"the image store is unreachable ({type(exc).__name__})") from None
    finally:
        answer.release_conn()


def head(bucket: Any, *, key: str, full: str) -> int:
    """One HEAD: the object's size."""
    answer = _send(bucket, "HeadObject", "HEAD", {"Key": full})
    if answer.status == 404:
        raise ObjectMissing(key)
    if answer.status != 200 or "Content-Length" not in answer.headers:
        raise StorageUnavailable(f"the image store refused the request (HTTP {answer.status})")
    return int(answer.headers["Content-Length"])


# The checksum headers a PUT may carry, and the presign parameters that put them in the signature.
CHECKSUMS = {"Content-MD5": "ContentMD5", "x-amz-checksum-sha256": "ChecksumSHA256"}
# What the server answers (400) when the body does not match its checksum: SeaweedFS says BadDigest for
# both headers (tests/storage/test_s3_checksums.py). Any other refusal stays a 503: nothing was stored.
BAD_DIGEST = b"<Code>BadDigest</Code>"


def put(bucket: Any, *, key: str, full: str, body: bytes, headers: dict[str, str]) -> None:
    """One PUT of whole bytes with ``headers`` (one checksum of CHECKSUMS, Content-Type) signed. A body the
    server found not to match its checksum raises ChecksumMismatch (nothing was stored)."""
    params = {"Key": full, "ContentType": headers["Content-Type"]}
    params.update({CHECKSUMS[name]: value for name, value in headers.items() if name in CHECKSUMS})
    answer = _send(bucket, "PutObject", "PUT", params, body=body, headers=headers)
    if answer.status == 400 and BAD_DIGEST in answer.data:
        raise ChecksumMismatch("the image store found the bytes not matching their checksum; nothing was stored")
    if answer.status != 200:
        raise StorageUnavailable(f"the image store refused the request (HTTP {answer.status})")


@contextmanager
def count_requests(store: Any) -> Iterator[dict[str, int]]:
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
