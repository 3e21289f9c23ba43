"""Defensive reading of one uploaded DICOM file (already on disk) into a :class:`ParsedInstance`.

Usage::

    try:
        parsed = parse_instance(path=tmp_path, limits=ParseLimits(max_pixels=...))
        require_study(parsed, study_instance_uid=uid_from_url)   # only for /studies/{study}
    except DicomRejected as exc:
        failed(exc.code, exc.reason)          # FailureReason for the STOW-RS response
    meta = extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)

What it guarantees (DESIGN.md rule 3: size limits before allocation, pixel-count limits before
decoding):

* the file size is checked before anything is read (0xA700 when over ``max_file_bytes``);
* Pixel Data is never read: its position is recorded instead (:mod:`.pixels`), so memory is bounded
  by the header (``max_header_bytes``) whatever the file size;
* a declared element length that points past the end of the file fails at once with 0xC000, before
  any buffer is sized from it (:mod:`.guarded`);
* files without the 128-byte preamble, without File Meta Information (PS3.10 §7.1; the transfer
  syntax is then inferred the way PS3.5 §A.1 / §A.2 encodings can be told apart), and Deflated
  Explicit VR Little Endian (PS3.5 §A.5, inflated with a size cap: no zip bombs) are understood;
* the four UIDs an archive keys on must be present and well-formed (PS3.5 §9.1), and the File Meta
  must agree with the data set (PS3.10 §7.1: (0002,0003) = (0008,0018)), else 0xA900;
* Rows × Columns × Frames × Samples over ``max_pixels`` is refused with 0xA700 before any decoder
  ever sees the file; Pixel Data shorter than that geometry needs is 0xA900, an image SOP class
  without Pixel Data (a file cut at an element boundary) is 0xA900, a DICOMDIR is 0x0122.

No exception other than :class:`DicomRejected` leaves :func:`parse_instance`. It is synchronous file
I/O of the header only (typically < 1 ms per file); call it from a worker thread in async code. It
keeps no global state, so concurrent calls are safe. Header values larger than ``defer_bytes``
(big private blobs) are skipped, not loaded: reading them from ``dataset`` later fails, and
:func:`backend.dicom.dicomjson.dataset_to_json` turns them into BulkDataURIs.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from backend.dicom import fastheader
from backend.dicom import values as v
from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.fastheader import NeedMore, read_header
from backend.dicom.filemeta import (
    infer_transfer_syntax,
    inflate,
    looks_like_dataset_start,
    read_file_meta,
)
from backend.dicom.guarded import GuardedFile, HeaderTooLarge, LengthBeyondEnd
from backend.dicom.jsonview import DicomJsonView
from backend.dicom.pixels import (
    PIXEL_TAGS,
    EncapsulatedPixels,
    ImageShape,
    NativePixels,
    locate_pixels,
)
from backend.errors import ServiceUnavailable

_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # PS3.4 Annex F / PS3.10 §8.6
C000 = FailureReason.CANNOT_UNDERSTAND
A900 = FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
A700 = FailureReason.OUT_OF_RESOURCES

# PS3.5 §9.1: UID = numeric components separated by ".", at most 64 characters. Checked strictly for
# the character set because UIDs become URL path segments and blob keys.
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# Still URL- and path-safe: no "/", no "..", no spaces.
_LENIENT_UID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Upper bounds; the defaults suit a hospital archive (a 2 GB enhanced CT is fine)."""

    max_file_bytes: int = 4 * 1024**3
    max_header_bytes: int = 64 * 1024**2
    max_pixels: int = 2_000_000_000  # Rows × Columns × Frames × Samples
    max_inflated_bytes: int = 1024**3  # Deflated TS: cap on the inflated data set
    max_fragments: int = 1_000_000
    # PS3.5 §9.1 UIDs only (digits and dots). Some anonymisers write hex hashes instead; an archive
    # that keys URLs and blob paths on UIDs refuses them (0xA900) unless this is switched off.
    strict_uids: bool = True
    defer_bytes: int = 256 * 1024  # header values above this stay on disk (never needed by the index)


@dataclass(frozen=True, slots=True)
class ParsedInstance:
    """One readable DICOM instance; ``dataset`` is the header without Pixel Data."""

    path: Path
    size: int
    dataset: Dataset
    transfer_syntax_uid: str
    transfer_syntax_inferred: bool
    has_preamble: bool
    has_file_meta: bool
    is_deflated: bool
    is_encapsulated: bool
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    # Where the pixels are in the ORIGINAL file (None: no pixels, or deflated so offsets are moot).
    native_pixels: NativePixels | None
    encapsulated_pixels: EncapsulatedPixels | None
    has_pixel_data: bool
    # PS3.10 §7.1: an unused preamble is all zero bytes. A non-blank one may hide another file
    # format (a TIFF, or an executable: the "DICOM polyglot" problem); the file is still stored
    # byte-exact, this flag lets the service warn or scrub copies it serves.
    preamble_blank: bool | None = None


def parse_instance(*, path: Path, limits: ParseLimits | None = None) -> ParsedInstance:
    """Parse ``path`` or raise :class:`DicomRejected`; see the module docstring."""
    limits = limits or ParseLimits()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DicomRejected(FailureReason.PROCESSING_FAILURE, f"uploaded file unreadable: {exc}") from exc
    if size > limits.max_file_bytes:
        raise DicomRejected(A700, f"file of {size} bytes exceeds the limit of {limits.max_file_bytes} bytes")
    try:
        with path.open("rb") as raw:
            guard = GuardedFile(cast(BinaryIO, raw), size=size, max_read_bytes=limits.max_header_bytes, name=str(path))
            return _parse(guard=guard, path=path, size=size, limits=limits)
    except DicomRejected:
        raise
    except LengthBeyondEnd as exc:
        raise DicomRejected(C000, f"declared length larger than the file: {exc}") from exc
    except HeaderTooLarge as exc:
        raise DicomRejected(A700, str(exc)) from exc
    except MemoryError as exc:
        raise DicomRejected(A700, "not enough memory to read the header") from exc
    except OSError as exc:
        raise DicomRejected(FailureReason.PROCESSING_FAILURE, f"I/O error while reading: {exc}") from exc
    except Exception as exc:
        raise DicomRejected(C000, f"cannot parse DICOM: {type(exc).__name__}: {exc}"[:300]) from exc


def parse_stored(source: BinaryIO, *, size: int, limits: ParseLimits | None = None) -> ParsedInstance:
    """Parse an instance already in the object store from a seekable reader (storage ``open``); the
    same checks and errors as :func:`parse_instance`. ``path`` of the result is only a label."""
    limits = limits or ParseLimits()
    try:
        guard = GuardedFile(source, size=size, max_read_bytes=limits.max_header_bytes, name="stored")
        return _parse(guard=guard, path=Path("stored"), size=size, limits=limits)
    except (DicomRejected, ServiceUnavailable):  # the store being down is a 503, not a bad file
        raise
    except (LengthBeyondEnd, HeaderTooLarge, MemoryError, OSError) as exc:
        raise DicomRejected(C000, f"stored instance unreadable: {type(exc).__name__}") from exc
    except Exception as exc:
        raise DicomRejected(C000, f"cannot parse DICOM: {type(exc).__name__}: {exc}"[:300]) from exc


def _parse(*, guard: GuardedFile, path: Path, size: int, limits: ParseLimits) -> ParsedInstance:
    head = guard.read(132)
    has_preamble = len(head) == 132 and head[128:132] == b"DICM"
    start = 132 if has_preamble else 0
    if not has_preamble and not looks_like_dataset_start(head):
        raise DicomRejected(C000, "not a DICOM file: no 'DICM' prefix and no DICOM element at byte 0")

    meta, meta_end = read_file_meta(guard, start=start)
    has_file_meta = meta_end > start
    if str(meta.get("MediaStorageSOPClassUID", "")).strip("\x00 ") == _MEDIA_STORAGE_DIRECTORY:
        raise DicomRejected(
            FailureReason.SOP_CLASS_NOT_SUPPORTED,
            "a DICOMDIR is a media directory, not an instance: upload the files it references",
        )
    ts_text = str(meta.get("TransferSyntaxUID", "") or "").strip("\x00 ")
    inferred = not ts_text
    if inferred:
        ts = infer_transfer_syntax(guard, at=meta_end)
    else:
        ts = UID(ts_text)
        if ts not in AllTransferSyntaxes and not ts.is_private:
            raise DicomRejected(FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED, f"unknown transfer syntax {ts_text}")
    deflated = ts == DeflatedExplicitVRLittleEndian
    implicit = ts == ImplicitVRLittleEndian
    little = ts != ExplicitVRBigEndian

    body: GuardedFile = guard
    spool = None
    if deflated:
        spool, inflated = inflate(guard, at=meta_end, limit=limits.max_inflated_bytes)
        body = GuardedFile(cast(BinaryIO, spool), size=inflated, max_read_bytes=limits.max_header_bytes, name=str(path))
    else:
        guard.seek(meta_end)

    try:
        # No warnings.catch_warnings() here: it swaps process-global state and is not thread-safe
        # (the service parses in worker threads). Truncation is detected by the guard instead.
        body_start = body.tell()
        ds = read_dataset(
            cast(BinaryIO, body),
            implicit,
            little,
            stop_when=_at_pixel_data,
            defer_size=limits.defer_bytes,
        )
        if [p for p in body.partial_reads if p[0] >= 132]:
            position, wanted, got = body.partial_reads[-1]
            raise DicomRejected(C000, f"file truncated: element at byte {position} wants {wanted} bytes, {got} remain")
        if len(ds) == 0 and body.tell() == body_start:
            raise DicomRejected(C000, "no data set after the File Meta Information")
        ds.file_meta = FileMetaDataset(meta)
        ds.set_original_encoding(implicit, little, ds._character_set)
        uids = _check_identity(ds, meta_instance=str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip("\x00 "),
                               meta_class=str(meta.get("MediaStorageSOPClassUID", "") or "").strip("\x00 "),
                               strict=limits.strict_uids)
        pixel_position = body.tell()
        native, encapsulated, has_pixels = locate_pixels(
            cast(BinaryIO, body),
            at=pixel_position,
            shape=_image_shape(ds),
            encapsulated_ts=bool(ts.is_encapsulated),
            implicit_vr=implicit,
            little_endian=little,
            file_size=_size(body),
            max_pixels=limits.max_pixels,
            max_fragments=limits.max_fragments,
        )
        if not has_pixels and "Image Storage" in UID(uids[0]).name:
            # PS3.3: the Image Pixel Module is mandatory in every image IOD; an image without
            # Pixel Data is a file cut at an element boundary, or a broken writer.
            raise DicomRejected(A900, f"{UID(uids[0]).name} without Pixel Data (truncated file?)")
    finally:
        if spool is not None:
            spool.close()
    return ParsedInstance(
        path=path,
        size=size,
        dataset=ds,
        transfer_syntax_uid=str(ts),
        transfer_syntax_inferred=inferred,
        has_preamble=has_preamble,
        has_file_meta=has_file_meta,
        is_deflated=deflated,
        is_encapsulated=bool(ts.is_encapsulated),
        sop_class_uid=uids[0],
        sop_instance_uid=uids[1],
        study_instance_uid=uids[2],
        series_instance_uid=uids[3],
        native_pixels=None if deflated else native,
        encapsulated_pixels=None if deflated else encapsulated,
        has_pixel_data=has_pixels,
        preamble_blank=(head[:128] == bytes(128)) if has_preamble else None,
    )


def parse_fast(*, path: Path, limits: ParseLimits | None = None,
               bounded: bool = False) -> tuple[ParsedInstance, DicomJsonView] | None:
    """:func:`parse_instance` for ingest, without pydicom's data set: the instance (its ``dataset`` empty)
    and the DICOM JSON of its header (fastheader.py, as ``dataset_to_json(..., bulk_data_uri=None)``
    renders it after the character set repair), which :func:`~backend.dicom.metadata.extract_metadata`
    reads too. None when the file is not for the fast reader — another transfer syntax, anything unusual,
    and every file :func:`parse_instance` would refuse: the caller then calls :func:`parse_instance`,
    whose answer stands, so no verdict ever depends on this path.

    ``bounded``: one read of at most 64 KiB and nothing more — None also when the header, or Pixel Data's
    element header, lies beyond it, or when the pixels are encapsulated (their fragments are walked in the
    file). Its work is then bounded whatever the file, which lets the event loop run it (ingest/parsepool.py)."""
    limits = limits or ParseLimits()
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            return None
        # Unbuffered: the fast path reads the header in one call and then a few bytes at Pixel Data; a
        # BufferedReader would only add its own allocation and an 8 KiB read there (issue 21).
        with path.open("rb", buffering=0) as raw:
            guard = GuardedFile(cast(BinaryIO, raw), size=size, max_read_bytes=limits.max_header_bytes, name=str(path))
            return _parse_fast(guard=guard, path=path, size=size, limits=limits, bounded=bounded)
    except Exception:  # noqa: BLE001 - whatever it is, pydicom's parse decides
        return None


_FAST_FIRST = 64 * 1024  # a CT or MR header is 1–10 KB
_FAST_MAX = 4 * 1024**2  # headers longer than this (big private blobs, long SRs) are left to pydicom
# Explicit VR Little Endian and the encapsulated syntaxes, whose data sets are encoded alike (PS3.5 §A.4),
# by UID text -> encapsulated or not: looked up as text, as making a pydicom UID of the File Meta's value
# (validation included) costs about as much as reading the whole File Meta.
_FAST_SYNTAXES = {str(ts): bool(ts.is_encapsulated) for ts in AllTransferSyntaxes if ts not in (
    ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)}


def _parse_fast(*, guard: GuardedFile, path: Path, size: int, limits: ParseLimits,
                bounded: bool) -> tuple[ParsedInstance, DicomJsonView] | None:
    # One read for preamble, File Meta and header (a CT or MR header is 1–10 KB); more only if needed, and
    # then the reader carries on where it stopped.
    chunk = min(size, _FAST_FIRST)
    progress = None
    while True:
        guard.seek(0)
        data = guard.read(chunk)
        complete = len(data) == size
        try:
            if data[128:132] != b"DICM":
                return None  # no preamble: parse_instance's sniffing decides
            meta, meta_end = fastheader.read_file_meta(data, start=132, complete=complete)
            ts = meta.get(0x00020010, "").strip()  # as UID() strips it
            encapsulated_ts = _FAST_SYNTAXES.get(ts)
            if encapsulated_ts is None or meta.get(0x00020002, "") == _MEDIA_STORAGE_DIRECTORY or meta_end == 132:
                return None
            if bounded and encapsulated_ts:  # declined below anyway: not after reading the whole header
                return None
            header = read_header(data, start=meta_end, complete=complete, defer_bytes=limits.defer_bytes,
                                 resume=progress)
            break
        except NeedMore as more:
            progress = more.resume
            if bounded or chunk >= min(size, _FAST_MAX):
                return None
            chunk = min(size, _FAST_MAX, chunk * 8)
    view = DicomJsonView(header.model, charset_assumed=header.charset_assumed)
    uids = _check_identity(view, meta_instance=meta.get(0x00020003, ""), meta_class=meta.get(0x00020002, ""),
                           strict=limits.strict_uids)
    # Native Pixel Data needs only its element header, nearly always among the bytes already read: read
    # it there rather than with four more system calls on the file. Encapsulated fragments are walked
    # in the file.
    beyond = encapsulated_ts or header.pixel_offset + 12 > len(data)
    if beyond and bounded:
        return None
    source = guard if beyond else io.BytesIO(data)
    native, encapsulated, has_pixels = locate_pixels(
        cast(BinaryIO, source),
        at=header.pixel_offset,
        shape=_image_shape(view),
        encapsulated_ts=encapsulated_ts,
        implicit_vr=False,
        little_endian=True,
        file_size=size,
        max_pixels=limits.max_pixels,
        max_fragments=limits.max_fragments,
    )
    if not has_pixels and "Image Storage" in UID(uids[0]).name:
        return None
    parsed = ParsedInstance(
        path=path, size=size, dataset=Dataset(), transfer_syntax_uid=ts, transfer_syntax_inferred=False,
        has_preamble=True, has_file_meta=True, is_deflated=False,
        is_encapsulated=encapsulated_ts, sop_class_uid=uids[0], sop_instance_uid=uids[1],
        study_instance_uid=uids[2], series_instance_uid=uids[3], native_pixels=native,
        encapsulated_pixels=encapsulated, has_pixel_data=has_pixels,
        preamble_blank=data[:128] == bytes(128),
    )
    return parsed, view


def require_study(parsed: ParsedInstance, *, study_instance_uid: str) -> None:
    """STOW-RS to /studies/{study} (PS3.18 §10.5): an instance of another study fails with 0xA900
    (an A9xx "does not match" status, PS3.4 B.2.3)."""
    if parsed.study_instance_uid != study_instance_uid:
        raise DicomRejected(
            A900,
            f"StudyInstanceUID {parsed.study_instance_uid} does not match the study "
            f"{study_instance_uid} of the request URL",
        )


def _at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
    return int(tag) in PIXEL_TAGS


def _uid(ds: v.Source, keyword: str, *, strict: bool) -> str:
    value = v.get(ds, keyword)  # None when absent or malformed: the same as missing here
    text = str(value or "").strip("\x00 ")
    if not text:
        raise DicomRejected(A900, f"missing {keyword}")
    pattern = _UID_RE if strict else _LENIENT_UID_RE
    if len(text) > 64 or not pattern.match(text):
        raise DicomRejected(A900, f"{keyword} is not a valid UID: {text[:80]!r}")
    return text


def _check_identity(ds: v.Source, *, meta_instance: str, meta_class: str, strict: bool) -> tuple[str, str, str, str]:
    sop_class = _uid(ds, "SOPClassUID", strict=strict)
    sop_instance = _uid(ds, "SOPInstanceUID", strict=strict)
    study = _uid(ds, "StudyInstanceUID", strict=strict)
    series = _uid(ds, "SeriesInstanceUID", strict=strict)
    if meta_instance and meta_instance != sop_instance:
        raise DicomRejected(
            A900,
            f"File Meta MediaStorageSOPInstanceUID {meta_instance} differs from SOPInstanceUID {sop_instance}",
        )
    if meta_class and meta_class != sop_class:
        raise DicomRejected(
            A900, f"File Meta MediaStorageSOPClassUID {meta_class} differs from SOPClassUID {sop_class}"
        )
    return sop_class, sop_instance, study, series


def _int(ds: v.Source, keyword: str) -> int | None:
    try:
        value = v.get(ds, keyword)
        return None if value is None or value == "" else int(value)
    except Exception:  # noqa: BLE001 - invalid IS/US values ("1A") are tolerated as missing
        return None


def _image_shape(ds: v.Source) -> ImageShape:
    return ImageShape(
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        frames=_int(ds, "NumberOfFrames"),
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        bits_allocated=_int(ds, "BitsAllocated"),
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        planar_configuration=_int(ds, "PlanarConfiguration") or 0,
    )


def _size(body: GuardedFile) -> int:
    here = body.tell()
    end = body.seek(0, os.SEEK_END)
    body.seek(here)
    return end
