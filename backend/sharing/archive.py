"""Original DICOM of shared studies as a ZIP laid out like a CD (PS3.10 file-set, PS3.11 media):
``DICOMDIR`` at the root, instances under ``PT…/ST…/SE…/IM…`` as the DICOMDIR names them.

Memory stays constant: the DICOMDIR is built first from the instances' headers only (pydicom's
``FileSet`` computes the directory records and their byte offsets, PS3.3 F.3), then the ZIP is
written entry by entry from the blob store in 1 MiB chunks, STORED (DICOM pixel data is usually
compressed already; no deflate keeps the CPU free) with data descriptors, Zip64 when needed.
Nothing is written to disk while streaming, so a cancelled download leaves nothing behind.
Instances the DICOMDIR cannot describe (a SOP class without a directory record type) are still in
the ZIP, under ``OTHER/``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.fileset import FileSet

from backend.storage.service import LocalBlobStore

log = logging.getLogger("yunying.sharing")
CHUNK = 1 << 20
FILESET_ID = "YUNYING"  # (0004,1130) File-set ID: CS, up to 16 characters


@dataclass(frozen=True, slots=True)
class Member:
    blob_key: str
    sop_instance_uid: str


@dataclass(frozen=True, slots=True)
class Plan:
    dicomdir: bytes
    entries: list[tuple[str, str]]  # (name in the ZIP, blob key)


def plan(*, blobs: LocalBlobStore, members: Sequence[Member]) -> Plan:
    """Read each original's header (no pixel data) and let pydicom build the DICOMDIR."""
    fileset = FileSet()
    fileset.ID = FILESET_ID
    keys: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for member in members:
        try:
            with blobs.open(key=member.blob_key) as handle:
                header = pydicom.dcmread(handle, stop_before_pixels=True)
            if member.sop_instance_uid in keys:
                raise ValueError("SOP Instance UID already in the file-set")
            fileset.add(header)
            keys[member.sop_instance_uid] = member.blob_key
        except (ValueError, KeyError, AttributeError, TypeError, pydicom.errors.InvalidDicomError) as exc:
            log.info("instance outside the DICOMDIR: %s", type(exc).__name__)
            others.append((f"OTHER/{len(others):06d}.dcm", member.blob_key))
    entries: list[tuple[str, str]] = []
    dicomdir = b""
    if keys:
        with tempfile.TemporaryDirectory(prefix="yy-dicomdir-") as folder:
            fileset.write(folder)  # writes the header-only stand-ins too: small, and gone with the folder
            dicomdir = (Path(folder) / "DICOMDIR").read_bytes()
        for instance in fileset:
            entries.append((instance.FileID.replace(os.sep, "/"), keys[instance.SOPInstanceUID]))
    return Plan(dicomdir=dicomdir, entries=entries + others)


class _Pipe:
    """A write-only, unseekable file: zipfile then writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def stream(*, blobs: LocalBlobStore, archive: Plan) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[call-overload]
        if archive.dicomdir:
            zf.writestr("DICOMDIR", archive.dicomdir)
            yield pipe.drain()
        for name, key in archive.entries:
            with blobs.open(key=key) as source, zf.open(name, mode="w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()
