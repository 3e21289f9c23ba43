"""Streaming multipart/related reader for STOW-RS: framing, limits, chunk borders, bounded memory."""

from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest

from backend.dicom.multipart import (
    MultipartError,
    MultipartLimits,
    Part,
    encode_multipart,
    new_boundary,
    parse_related_content_type,
    read_multipart,
    related_content_type,
)

from .test_fixtures import fixture

BOUNDARY = "yunying-7c2f"
DICOM = "application/dicom"


def body_of(
    parts: list[tuple[str | None, bytes]],
    *,
    boundary: str = BOUNDARY,
    preamble: bytes = b"",
    epilogue: bytes = b"",
    close: bool = True,
) -> bytes:
    out = bytearray(preamble)
    for content_type, payload in parts:
        out += b"\r\n--" if out or preamble else b"--"
        out += boundary.encode() + b"\r\n"
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + payload
    if close:
        out += b"\r\n--" + boundary.encode() + b"--"
    out += epilogue
    return bytes(out)


async def _chunks(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def run(
    pieces: Iterable[bytes],
    directory: Path,
    *,
    limits: MultipartLimits | None = None,
    accept: Iterable[str] = (DICOM,),
    boundary: str = BOUNDARY,
) -> list[Part]:
    async def go() -> list[Part]:
        stream = read_multipart(_chunks(pieces), boundary=boundary, directory=directory, limits=limits, accept=accept)
        return [part async for part in stream]

    return asyncio.run(go())


def stored(part: Part) -> bytes:
    assert part.path is not None, part.rejected
    return part.path.read_bytes()


# Payloads that contain near-misses of the delimiter: CRLF, "--", a boundary prefix.
TRICKY = [
    b"",
    b"\r\n--yunying-7c2\r\n\r\n--",
    b"DICM\x00\r\n-\r\n--yunying-7c2e not it\r\n",
]


def test_every_split_point_of_a_small_body(tmp_path: Path) -> None:
    payloads = [b"first\r\n", *TRICKY, b"last"]
    body = body_of([(DICOM, p) for p in payloads], preamble=b"ignored preamble", epilogue=b"\r\nbye\r\n")
    for split in range(len(body) + 1):
        directory = tmp_path / f"s{split}"
        directory.mkdir()
        parts = run([body[:split], body[split:]], directory)
        assert [stored(p) for p in parts] == payloads, split
        assert [p.index for p in parts] == list(range(len(payloads)))
        assert all(p.sha256 == hashlib.sha256(stored(p)).hexdigest() for p in parts)


def test_one_byte_chunks(tmp_path: Path) -> None:
    payloads = [b"a\r\n-", *TRICKY]
    body = body_of([(DICOM, p) for p in payloads])
    parts = run([body[i : i + 1] for i in range(len(body))], tmp_path)
    assert [stored(p) for p in parts] == payloads


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_real_dicom_files_round_trip_byte_exact(tmp_path: Path, chunk: int) -> None:
    files = [fixture("pydicom/CT_small.dcm"), fixture("pydicom/charset/chrX2.dcm"), fixture("dcmqi/liver.dcm")]
    if chunk == 1:
        files = files[1:2]
    blobs = [f.read_bytes() for f in files]
    body = body_of([(f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.1", b) for b in blobs])
    parts = run([body[i : i + chunk] for i in range(0, len(body), chunk)], tmp_path)
    assert [stored(p) for p in parts] == blobs
    assert [p.sha256 for p in parts] == [hashlib.sha256(b).hexdigest() for b in blobs]
    assert parts[0].transfer_syntax == "1.2.840.10008.1.2.1"
    assert parts[0].size == len(blobs[0])


def test_missing_closing_boundary_is_a_truncated_request(tmp_path: Path) -> None:
    body = body_of([(DICOM, b"complete one"), (DICOM, b"cut in the mid")], close=False)
    seen: list[Part] = []

    async def go() -> None:
        async for part in read_multipart(_chunks([body]), boundary=BOUNDARY, directory=tmp_path):
            seen.append(part)

    with pytest.raises(MultipartError) as caught:
        asyncio.run(go())
    assert caught.value.status == 400
    assert "closing" in caught.value.message_en
    assert [stored(p) for p in seen] == [b"complete one"]  # only complete parts are handed out
    assert sorted(tmp_path.iterdir()) == [seen[0].path]  # the partial temp file is gone


@pytest.mark.parametrize("body", [b"", b"no boundary anywhere in this body", b"--yunying-7c2f\r\nContent-Ty"])
def test_bodies_that_never_finish(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(MultipartError) as caught:
        run([body], tmp_path)
    assert caught.value.status == 400
    assert list(tmp_path.iterdir()) == []


def test_transport_padding_and_header_case(tmp_path: Path) -> None:
    body = (
        b"--" + BOUNDARY.encode() + b"  \t\r\n"
        b"CONTENT-TYPE:   Application/DICOM\r\nContent-Location: a\r\n\r\n"
        b"payload\r\n--" + BOUNDARY.encode() + b"--\r\n"
    )
    (part,) = run([body], tmp_path)
    assert stored(part) == b"payload"
    assert part.content_type == DICOM
    assert part.headers["content-location"] == "a"


def test_malformed_boundary_line(tmp_path: Path) -> None:
    body = b"--" + BOUNDARY.encode() + b"garbage\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--"
    with pytest.raises(MultipartError) as caught:
        run([body], tmp_path)
    assert caught.value.status == 400


def test_wrong_part_type_is_rejected_per_part(tmp_path: Path) -> None:
    body = body_of([(DICOM, b"one"), ("text/plain", b"not dicom"), (None, b"no headers"), (DICOM, b"two")])
    parts = run([body], tmp_path)
    assert [p.rejected is None for p in parts] == [True, False, False, True]
    assert "text/plain" in (parts[1].rejected or "")
    assert parts[1].path is None
    assert parts[1].size == len(b"not dicom")
    assert stored(parts[3]) == b"two"
    assert len(list(tmp_path.iterdir())) == 2


def test_any_part_type_when_accept_is_empty(tmp_path: Path) -> None:
    parts = run([body_of([(None, b"raw")])], tmp_path, accept=())
    assert stored(parts[0]) == b"raw"


def test_part_over_the_size_limit_is_rejected_and_removed(tmp_path: Path) -> None:
    body = body_of([(DICOM, b"x" * 5000), (DICOM, b"small")])
    parts = run(
        [body[i : i + 100] for i in range(0, len(body), 100)], tmp_path, limits=MultipartLimits(max_part_bytes=4096)
    )
    assert parts[0].rejected is not None
    assert "4096" in parts[0].rejected
    assert parts[0].path is None
    assert stored(parts[1]) == b"small"
    assert len(list(tmp_path.iterdir())) == 1


def test_total_size_limit(tmp_path: Path) -> None:
    body = body_of([(DICOM, b"y" * 3000)])
    with pytest.raises(MultipartError) as caught:
        run([body[:1000], body[1000:2000], body[2000:]], tmp_path, limits=MultipartLimits(max_total_bytes=2048))
    assert caught.value.status == 413
    assert list(tmp_path.iterdir()) == []


def test_part_count_limit(tmp_path: Path) -> None:
    body = body_of([(DICOM, b"p")] * 4)
    with pytest.raises(MultipartError) as caught:
        run([body], tmp_path, limits=MultipartLimits(max_parts=3))
    assert caught.value.status == 413


def test_oversized_part_headers(tmp_path: Path) -> None:
    body = b"--" + BOUNDARY.encode() + b"\r\nX-Long: " + b"a" * 5000 + b"\r\n\r\nbody\r\n--" + BOUNDARY.encode() + b"--"
    with pytest.raises(MultipartError) as caught:
        run([body], tmp_path, limits=MultipartLimits(max_header_bytes=1024))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "header",
    [
        'multipart/related; type="application/dicom"; boundary=yunying-7c2f',
        'Multipart/Related; Boundary="yunying-7c2f"; TYPE=application/DICOM',
        "multipart/related; boundary=yunying-7c2f",  # type parameter omitted: tolerated
    ],
)
def test_content_type_accepted(header: str) -> None:
    parsed = parse_related_content_type(header)
    assert parsed.boundary == BOUNDARY


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 415),
        ("", 415),
        ("application/dicom", 415),
        ("multipart/form-data; boundary=abc", 415),
        ('multipart/related; type="application/dicom+json"; boundary=abc', 415),
        ('multipart/related; type="application/dicom"', 400),
        ('multipart/related; type="application/dicom"; boundary=""', 400),
        ('multipart/related; type="application/dicom"; boundary="' + "b" * 71 + '"', 400),
        ('multipart/related; type="application/dicom"; boundary="ends with space "', 400),
    ],
)
def test_content_type_refused(header: str | None, status: int) -> None:
    with pytest.raises(MultipartError) as caught:
        parse_related_content_type(header)
    assert caught.value.status == status
    assert caught.value.message_zh


def _big_payload(total: int, block: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


def test_200_mb_part_streams_with_bounded_memory(tmp_path: Path) -> None:
    size = 200 * 1024**2
    block = hashlib.sha256(b"seed").digest() * (64 * 1024 // 32)  # 64 KiB, deterministic
    expected = hashlib.sha256()
    for piece in _big_payload(size, block):
        expected.update(piece)

    head = b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
    tail = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"

    def pieces() -> Iterator[bytes]:
        yield head
        yield from _big_payload(size, block)
        yield tail

    tracemalloc.start()
    start = time.perf_counter()
    (part,) = run(pieces(), tmp_path)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert part.size == size
    assert part.sha256 == expected.hexdigest()
    assert part.path is not None
    assert part.path.stat().st_size == size
    on_disk = hashlib.sha256()
    with part.path.open("rb") as stored_file:
        for block_read in iter(lambda: stored_file.read(1 << 20), b""):
            on_disk.update(block_read)
    assert on_disk.hexdigest() == expected.hexdigest()
    assert peak < 4 * 1024**2, peak  # a few chunks, never the part
    assert elapsed < 60


def test_encoder_round_trips_through_the_reader(tmp_path: Path) -> None:
    files = [fixture("pydicom/CT_small.dcm"), fixture("dcmqi/liver.dcm"), fixture("pydicom/charset/chrX2.dcm")]
    boundary = new_boundary()
    assert new_boundary() != boundary
    header = parse_related_content_type(related_content_type(boundary))
    assert header.boundary == boundary
    pieces = list(encode_multipart(files, boundary=header.boundary, chunk_size=4096))
    assert max(len(p) for p in pieces) <= 4096
    out = tmp_path / "out"
    out.mkdir()
    parts = run(pieces, out, boundary=boundary)
    assert [stored(p) for p in parts] == [f.read_bytes() for f in files]
