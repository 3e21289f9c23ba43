"""What the S3 server checks on a PUT, and what ingest relies on it for: the original's SHA-256 travels as
the PUT's ``x-amz-checksum-sha256`` (storage/s3.py ``put_files``) instead of a Content-MD5 taken by a
second pass over the bytes, so the server must refuse a body that does not match it, and a spooled file
changed after ingest hashed it must never become visible — even when its length did not change."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from backend.storage import signed
from backend.storage.base import Spooled
from backend.storage.errors import ChecksumMismatch
from backend.storage.s3 import S3ObjectStore
from backend.storage.service import open_store


def _store(s3_url: str) -> S3ObjectStore:
    store = open_store(s3_url)
    assert isinstance(store, S3ObjectStore)
    return store


@pytest.mark.parametrize("header", ["x-amz-checksum-sha256", "Content-MD5"])
def test_the_server_refuses_a_body_that_does_not_match_its_checksum(s3_url: str, header: str) -> None:
    store = _store(s3_url)
    wrong = (hashlib.sha256 if header != "Content-MD5" else hashlib.md5)(b"other bytes").digest()
    with pytest.raises(ChecksumMismatch):
        signed.put(store._bucket, key="k", full=store._k("k"), body=b"the bytes sent",
                   headers={header: base64.b64encode(wrong).decode(), "Content-Type": "application/octet-stream"})
    assert not store.exists(key="k")


def test_put_files_sends_the_callers_sha256_and_no_md5(s3_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(s3_url)
    data = os.urandom(70_001)
    spooled = tmp_path / "part.dcm"
    spooled.write_bytes(data)
    sent: list[dict[str, str]] = []
    real_put = signed.put

    def spy(bucket: object, **kwargs: object) -> None:
        sent.append(dict(kwargs["headers"]))  # type: ignore[call-overload]
        real_put(bucket, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(signed, "put", spy)
    digest = hashlib.sha256(data).hexdigest()
    item = Spooled(key=f"dicom/{digest}", path=spooled, sha256=digest, size=len(data))
    assert store.put_files(files=[item]) == [True]
    assert sent and "Content-MD5" not in sent[0]
    assert sent[0]["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert store.get_bytes(key=f"dicom/{digest}") == data


def test_a_spooled_file_changed_at_the_same_length_is_refused(s3_url: str, tmp_path: Path) -> None:
    """The server checks the caller's SHA-256 itself: bytes that changed after they were hashed are
    refused (False) and nothing is visible under their content address; the other files are stored."""
    store = _store(s3_url)
    files = []
    for n in range(3):
        data = os.urandom(40_000)
        path = tmp_path / f"part-{n}.dcm"
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        files.append(Spooled(key=f"dicom/{digest}", path=path, sha256=digest, size=len(data)))
    files[1].path.write_bytes(os.urandom(40_000))  # same length, other bytes
    assert store.put_files(files=files) == [True, False, True]
    assert not store.exists(key=files[1].key)
    assert {i.key for i in store.list()} == {files[0].key, files[2].key}
