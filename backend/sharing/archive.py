"""Original DICOM of shared studies as a ZIP laid out like a CD (PS3.10 file-set, PS3.11 media):
``DICOMDIR`` at the root, instances under ``PT…/ST…/SE…/IM…`` as the DICOMDIR names them.

Memory stays constant: the DICOMDIR is built first from the index rows (``dicomdir.build``, linear
time, no header parsing), then the ZIP is written entry by entry from the blob store in 1 MiB
chunks, STORED (DICOM pixel data is usually compressed already; no deflate keeps the CPU free) with
data descriptors, Zip64 when needed. Nothing is written to disk, so a cancelled download leaves
nothing behind. Instances without an IMAGE record (SR, PDF, …) are still in the ZIP, under ``OTHER/``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from backend.sharing.dicomdir import Entry, build
from backend.storage.base import ObjectStore

CHUNK = 1 << 20
FILESET_ID = "YUNYING"  # (0004,1130) File-set ID: CS, up to 16 characters


@dataclass(frozen=True, slots=True)
class Member:
    blob_key: str
    image: bool  # gets an IMAGE record in the DICOMDIR
    entry: Entry  # its DICOMDIR keys (file_id assigned by :func:`plan`)


@dataclass(frozen=True, slots=True)
class Plan:
    dicomdir: bytes
    entries: list[tuple[str, str]]  # (name in the ZIP, blob key)


def plan(*, members: Sequence[Member]) -> Plan:
    """Assign CD-style file IDs (PS3.10 §8.5: up to 8 components of up to 8 upper-case characters)
    in patient / study / series / instance order, and build the DICOMDIR."""
    ids: dict[tuple[str, ...], int] = {}

    def number(key: tuple[str, ...]) -> int:
        counter = (*key[:-1], "#")  # the last number used under this parent
        if key not in ids:
            ids[key] = ids[counter] = ids.get(counter, -1) + 1
        return ids[key]

    entries: list[Entry] = []
    names: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for m in members:
        if not m.image:
            others.append((f"OTHER/{len(others):06d}.dcm", m.blob_key))
            continue
        e = m.entry
        pt = number(("p", e.patient_id))
        st = number(("p", e.patient_id, "s", e.study_uid))
        se = number(("p", e.patient_id, "s", e.study_uid, "r", e.series_uid))
        im = number(("p", e.patient_id, "s", e.study_uid, "r", e.series_uid, "i", e.sop_instance_uid))
        file_id = (f"PT{pt:06d}", f"ST{st:06d}", f"SE{se:06d}", f"IM{im:06d}")
        entries.append(replace(e, file_id=file_id))
        names.append(("/".join(file_id), m.blob_key))
    dicomdir = build(entries, fileset_id=FILESET_ID) if entries else b""
    return Plan(dicomdir=dicomdir, entries=names + others)


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


def stream(*, blobs: ObjectStore, archive: Plan) -> Iterator[bytes]:
    """The ZIP, streamed. The first original is opened before the answer starts: an unavailable store is
    a 503, not a cut-off download."""
    first = blobs.iter_bytes(key=archive.entries[0][1], chunk=CHUNK) if archive.entries else None
    return _stream(blobs, archive, first)


def _stream(blobs: ObjectStore, archive: Plan, first: Iterator[bytes] | None) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[call-overload]
        if archive.dicomdir:
            zf.writestr("DICOMDIR", archive.dicomdir)
            yield pipe.drain()
        for n, (name, key) in enumerate(archive.entries):
            source = first if n == 0 and first is not None else blobs.iter_bytes(key=key, chunk=CHUNK)
            with zf.open(name, mode="w", force_zip64=True) as target:
                for chunk in source:  # one streamed GET per original
                    target.write(chunk)
                    yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()
