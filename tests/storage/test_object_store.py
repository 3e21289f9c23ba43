"""The object store contract, on the local directory and on a real S3 server (SeaweedFS or the one
configured): whole objects or none, checksums checked before anything is visible, ranges, listing."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.storage.base import ObjectStore, Spooled
from backend.storage.errors import ChecksumMismatch, ObjectMissing, StorageUnavailable
from backend.storage.local import LocalObjectStore

BIG = 9 * 1024 * 1024 + 17  # over the S3 store's part size: a multipart upload


def test_put_get_and_stream(store: ObjectStore) -> None:
    store.put_bytes(key="ab/cd/blob", data=b"DICM" * 1000, sha256=hashlib.sha256(b"DICM" * 1000).hexdigest())
    assert store.exists(key="ab/cd/blob") and store.size(key="ab/cd/blob") == 4000
    assert store.get_bytes(key="ab/cd/blob") == b"DICM" * 1000
    assert b"".join(store.iter_bytes(key="ab/cd/blob", chunk=999)) == b"DICM" * 1000
    assert store.get_bytes(key="ab/cd/blob", max_bytes=100) is None  # too big for the caller: not read
    with store.open(key="ab/cd/blob") as fh:
        fh.seek(4 * 500)
        assert fh.read(8) == b"DICMDICM"
        fh.seek(-4, io.SEEK_END)
        assert fh.read() == b"DICM"


def test_byte_ranges(store: ObjectStore) -> None:
    data = bytes(range(256)) * 64
    store.put_bytes(key="r", data=data)
    assert store.read_range(key="r", offset=1000, length=300) == data[1000:1300]
    assert store.read_range(key="r", offset=len(data) - 5, length=50) == data[-5:]  # short at the end, as a file
    assert store.read_range(key="r", offset=len(data) + 10, length=5) == b""
    assert store.read_range(key="r", offset=3, length=0) == b""


def test_large_stream_is_stored_whole(store: ObjectStore) -> None:
    data = os.urandom(BIG)
    chunks = (data[i:i + 1_000_003] for i in range(0, len(data), 1_000_003))
    assert store.put_stream(key="big/one", source=chunks, sha256=hashlib.sha256(data).hexdigest()) == len(data)
    assert store.size(key="big/one") == len(data)
    assert hashlib.sha256(b"".join(store.iter_bytes(key="big/one"))).digest() == hashlib.sha256(data).digest()


def test_a_file_source(store: ObjectStore, tmp_path: Path) -> None:
    spooled = tmp_path / "spooled.dcm"
    spooled.write_bytes(b"x" * 70_000)
    with open(spooled, "rb") as source:
        store.put_stream(key="f", source=source, sha256=hashlib.sha256(b"x" * 70_000).hexdigest())
    spooled.unlink()  # the caller removes its spool file: the object stays
    assert store.get_bytes(key="f") == b"x" * 70_000


def test_a_batch_of_spooled_files(store: ObjectStore, tmp_path: Path) -> None:
    """put_files (ingest's batches): every file stored whole under its key, a file whose size is no longer
    the one hashed (cut short or grown after the caller hashed it) refused alone (nothing visible), no
    temp file left, the spool files the caller's. The SHA-256 is the caller's, taken as it wrote the file
    (storage/base.py Spooled): the store does not read the file to take it again."""
    files, expected = [], {}
    for n in range(5):
        data = os.urandom(3_000 + n)
        spooled = tmp_path / f"part-{n}.dcm"
        spooled.write_bytes(data)
        key = f"dicom/{n % 2}/{hashlib.sha256(data).hexdigest()}"
        files.append(Spooled(key=key, path=spooled, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
        expected[key] = data
    changed = files[3]
    changed.path.write_bytes(b"changed after the hash was taken")
    assert store.put_files(files=files) == [True, True, True, False, True]
    assert not store.exists(key=changed.key)
    for item in files[:3] + files[4:]:
        assert store.get_bytes(key=item.key) == expected[item.key]
    assert {i.key for i in store.list()} == {item.key for item in files} - {changed.key}
    assert all(item.path.exists() for item in files)
    if isinstance(store, LocalObjectStore):
        assert not any((store.root / ".tmp").iterdir())
    assert store.put_files(files=[]) == []


def test_a_spooled_file_on_another_file_system_is_copied_and_verified(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """When the spool is not on the store's file system (no hard link), put_files copies the file and
    hashes the copy: bytes that no longer match the caller's SHA-256 are refused even at the same size."""
    store = LocalObjectStore(tmp_path / "store")

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr("backend.storage.local.os.link", cross_device)
    good, bad = tmp_path / "good.dcm", tmp_path / "bad.dcm"
    good.write_bytes(b"g" * 5_000)
    bad.write_bytes(b"b" * 5_000)
    files = [Spooled(key="dicom/g", path=good, sha256=hashlib.sha256(b"g" * 5_000).hexdigest(), size=5_000),
             Spooled(key="dicom/b", path=bad, sha256=hashlib.sha256(b"x" * 5_000).hexdigest(), size=5_000)]
    assert store.put_files(files=files) == [True, False]
    assert store.get_bytes(key="dicom/g") == b"g" * 5_000
    assert not store.exists(key="dicom/b")
    assert not any((store.root / ".tmp").iterdir())


@pytest.mark.parametrize("size", [5_000, BIG])
def test_checksum_mismatch_is_refused_and_nothing_is_visible(store: ObjectStore, size: int) -> None:
    store.put_bytes(key="k", data=b"the original")
    with pytest.raises(ChecksumMismatch):
        store.put_stream(key="k", source=iter([b"y" * size]), sha256="0" * 64)
    with pytest.raises(ChecksumMismatch):
        store.put_bytes(key="new", data=b"z", sha256="0" * 64)
    assert store.get_bytes(key="k") == b"the original"
    assert not store.exists(key="new")
    assert {i.key for i in store.list()} == {"k"}


@pytest.mark.parametrize("size", [5_000, BIG])
def test_a_reader_never_sees_half_an_object(store: ObjectStore, size: int) -> None:
    """A writer that dies mid-stream leaves the old object (or none): readers during and after see it whole."""
    store.put_bytes(key="old", data=b"old bytes")
    seen: list[bytes | None] = []

    def dying(key: str) -> Iterator[bytes]:
        yield b"a" * size
        seen.append(store.get_bytes(key=key) if store.exists(key=key) else None)  # mid-write
        raise ConnectionResetError("the client went away")

    for key in ("old", "fresh"):
        with pytest.raises(ConnectionResetError):
            store.put_stream(key=key, source=dying(key))
    assert seen == [b"old bytes", None]
    assert store.get_bytes(key="old") == b"old bytes" and not store.exists(key="fresh")
    assert {i.key for i in store.list()} == {"old"}


def test_missing_keys(store: ObjectStore) -> None:
    for read in (lambda: store.get_bytes(key="no/such"), lambda: store.size(key="no/such"),
                 lambda: store.read_range(key="no/such", offset=0, length=1), lambda: store.open(key="no/such"),
                 lambda: list(store.iter_bytes(key="no/such"))):
        with pytest.raises(ObjectMissing):
            read()
    assert not store.exists(key="no/such")
    store.delete(key="no/such")  # deleting nothing is fine


def test_list_by_prefix_with_times_and_delete(store: ObjectStore) -> None:
    before = time.time() - 120
    for key in ("derived/v1/a.jpg", "derived/v1/b/c.jpg", "derived/v2/a.jpg", "dicom/x"):
        store.put_bytes(key=key, data=key.encode())
    found = {i.key: i for i in store.list(prefix="derived/v1/")}
    assert set(found) == {"derived/v1/a.jpg", "derived/v1/b/c.jpg"}
    assert all(i.size == len(i.key) and before < i.modified < time.time() + 120 for i in found.values())
    assert {i.key for i in store.list(prefix="derived/v")} == {"derived/v1/a.jpg", "derived/v1/b/c.jpg",
                                                                "derived/v2/a.jpg"}
    store.delete(key="derived/v1/a.jpg")
    assert {i.key for i in store.list(prefix="derived/")} == {"derived/v1/b/c.jpg", "derived/v2/a.jpg"}


def test_areas_are_apart(store: ObjectStore) -> None:
    originals, derived = store.sub("blobs"), store.sub("derived")
    originals.put_bytes(key="a", data=b"original")
    derived.put_bytes(key="a", data=b"preview")
    assert originals.get_bytes(key="a") == b"original" and derived.get_bytes(key="a") == b"preview"
    assert {i.key for i in store.list()} == {"blobs/a", "derived/a"}
    store.check()


def test_keys_cannot_escape(store: ObjectStore, tmp_path: Path) -> None:
    for bad in ("../outside", "/abs", "a//b", "a/./b", "", "a/../../b"):
        with pytest.raises(ValueError):
            store.put_bytes(key=bad, data=b"x")
    assert not (tmp_path / "outside").exists()


def test_a_wrong_secret_is_refused(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.storage.s3 import S3ObjectStore, make_client

    good = S3ObjectStore(bucket=s3_url[5:].split("/")[0])
    good.put_bytes(key="secret", data=b"health data")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = S3ObjectStore(bucket=good.bucket, client=make_client())
    for attempt in (lambda: wrong.get_bytes(key="secret"), lambda: wrong.put_bytes(key="x", data=b"x"),
                    lambda: list(wrong.list())):
        with pytest.raises(StorageUnavailable) as caught:
            attempt()
        assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    assert not good.exists(key="x")


def test_local_stale_temp_files_are_swept_fresh_ones_kept(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    stale, fresh = store.tmp / "blob-stale", store.tmp / "blob-fresh"
    stale.write_bytes(b"half an upload from a killed worker")
    fresh.write_bytes(b"an upload still streaming")
    old = time.time() - 7 * 3600
    os.utime(stale, (old, old))
    LocalObjectStore(tmp_path).put_bytes(key="k", data=b"a restart, then a write")
    assert not stale.exists()
    assert fresh.exists()
    assert {i.key for i in store.list()} == {"k"}  # temp files are never listed


def test_local_temp_name_left_by_an_earlier_process_is_never_written_into(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Temp names are the pid and a counter (local._temp_file): a leftover of an earlier process that had
    the same pid must stay untouched (O_EXCL) and the write still lands whole under another name."""
    import itertools

    from backend.storage import local

    store = LocalObjectStore(tmp_path)
    monkeypatch.setattr(local, "_TEMP_SEQ", itertools.count(7))
    leftover = store.tmp / f"blob-{os.getpid()}-7"
    leftover.write_bytes(b"a killed writer's half")
    store.put_bytes(key="a/b", data=b"whole", durable=False)
    assert store.get_bytes(key="a/b") == b"whole"
    assert leftover.read_bytes() == b"a killed writer's half"
    assert oct((tmp_path / "a" / "b").stat().st_mode & 0o777) == oct(0o600)
    store.put_bytes(key="a/c", data=b"next", durable=True)  # the counter moved on: no collision now
    assert store.get_bytes(key="a/c") == b"next"


def test_a_missing_bucket_is_created_an_existing_one_used(s3_server: object) -> None:
    import uuid

    from backend.storage.service import storage_for

    bucket = f"yy-new-{uuid.uuid4().hex[:12]}"
    first = storage_for(storage_url=f"s3://{bucket}/prod", data_dir=Path("unused"))
    first.originals.put_bytes(key="a", data=b"1")  # creates the bucket
    again = storage_for(storage_url=f"s3://{bucket}/other", data_dir=Path("unused"))
    again.root.check()
    again.originals.put_bytes(key="a", data=b"2")  # the same bucket, its own prefix
    assert first.originals.get_bytes(key="a") == b"1" and again.originals.get_bytes(key="a") == b"2"
    assert first.originals.locator == f"s3://{bucket}/prod/blobs"


def test_originals_on_s3_are_read_whole_once(s3_url: str) -> None:
    """An original read for its header and then its pixels costs one request (storage/memo.py)."""
    from backend.storage.service import open_store
    from backend.storage.signed import count_requests

    originals = open_store(s3_url + "/blobs")
    small, big = os.urandom(300_000), os.urandom(5 * 1024 * 1024)
    originals.put_bytes(key="dicom/small", data=small)
    originals.put_stream(key="dicom/big", source=iter([big]))
    with count_requests(originals) as seen:
        with originals.open(key="dicom/small") as fh:
            fh.seek(128)
            assert fh.read(4) == small[128:132]
        assert originals.read_range(key="dicom/small", offset=1000, length=64) == small[1000:1064]
        assert originals.read_range(key="dicom/small", offset=299_990, length=64) == small[299_990:]
        assert seen == {"GetObject": 1}
        assert originals.read_range(key="dicom/big", offset=5_000_000, length=10) == big[5_000_000:5_000_010]
        assert originals.read_range(key="dicom/big", offset=7, length=3) == big[7:10]  # large: ranged reads
        assert originals.read_range(key="dicom/big", offset=len(big) + 5, length=3) == b""  # past the end
        with originals.open(key="dicom/big") as fh:
            fh.seek(-4, io.SEEK_END)
            assert fh.read() == big[-4:]
    with pytest.raises(ObjectMissing):
        originals.read_range(key="dicom/none", offset=0, length=1)
