"""File Meta Information, transfer syntax inference and bounded inflation (helpers of :mod:`.parse`).

* PS3.10 §7.1: a DICOM file is a 128-byte preamble, "DICM", the File Meta group (0002,eeee) in
  Explicit VR Little Endian, then the data set in the transfer syntax named by (0002,0010).
* Some writers omit the preamble, or the whole File Meta (pydicom's OT-PAL-8-face.dcm): the encoding
  is then inferred from the first element (PS3.5 §7.1.2 explicit vs. §7.1.3 implicit VR).
* PS3.5 §A.5 Deflated Explicit VR Little Endian: everything after the File Meta is raw deflate; it is
  inflated in bounded steps so a small upload cannot expand into gigabytes (a zip bomb).
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import zlib

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.guarded import GuardedFile

C000 = FailureReason.CANNOT_UNDERSTAND
A700 = FailureReason.OUT_OF_RESOURCES
_VR_BYTES = re.compile(rb"^[A-Z]{2}$")
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


def looks_like_dataset_start(head: bytes) -> bool:
    """PS3.10 §7.1 files start with the preamble; some writers omit it (pydicom's JLSL_RGB_ILV0,
    OT-PAL-8-face). Accept a start that is a File Meta or a low-group element in either byte order."""
    if len(head) < 8:
        return False
    group_le = struct.unpack("<H", head[:2])[0]
    group_be = struct.unpack(">H", head[:2])[0]
    return group_le in (0x0000, 0x0002, 0x0008) or group_be == 0x0008


def read_file_meta(guard: GuardedFile, *, start: int) -> tuple[Dataset, int]:
    """Group 0002 is always Explicit VR Little Endian (PS3.10 §7.1); scan it by hand so the
    transfer syntax is known before pydicom touches the data set (and before any inflation)."""
    position = start
    chunks: list[bytes] = []
    while True:
        guard.seek(position)
        head = guard.read(8)
        if len(head) < 8:
            break
        group, _element = struct.unpack("<HH", head[:4])
        vr = head[4:6]
        if group != 0x0002 or not _VR_BYTES.match(vr):
            break
        if vr in _LONG_VRS:
            extra = guard.read(4)
            if len(extra) < 4:
                raise DicomRejected(C000, "file ends inside the File Meta Information")
            (length,) = struct.unpack("<L", extra)
            header_len = 12
        else:
            (length,) = struct.unpack("<H", head[6:8])
            header_len = 8
        if length == 0xFFFFFFFF or length > 1024**2:
            raise DicomRejected(C000, f"File Meta element at byte {position} has an implausible length")
        guard.seek(position)
        chunk = guard.read(header_len + length)
        if len(chunk) < header_len + length:
            raise DicomRejected(C000, "file ends inside the File Meta Information")
        chunks.append(chunk)
        position += header_len + length
    if not chunks:
        return Dataset(), start
    meta = read_dataset(io.BytesIO(b"".join(chunks)), False, True)
    return meta, position


def infer_transfer_syntax(guard: GuardedFile, *, at: int) -> UID:
    """No (0002,0010): tell Implicit LE from Explicit LE/BE by whether bytes 4-5 form a VR, and
    the byte order by the group number (PS3.5 §7.1.2/§7.1.3; a Big Endian group 0x0008 reads as
    0x0800 in little endian)."""
    guard.seek(at)
    first = guard.read(6)
    if len(first) < 6:
        raise DicomRejected(C000, "no data set after the File Meta Information")
    if _VR_BYTES.match(first[4:6]):
        group_le = struct.unpack("<H", first[:2])[0]
        return ExplicitVRBigEndian if group_le >= 0x0400 else ExplicitVRLittleEndian
    return ImplicitVRLittleEndian


def inflate(guard: GuardedFile, *, at: int, limit: int) -> tuple[tempfile.SpooledTemporaryFile[bytes], int]:
    """PS3.5 §A.5: raw deflate (no zlib header) of everything after the File Meta. Inflate in
    bounded steps into a spooled temp file; refuse more than ``limit`` inflated bytes."""
    guard.seek(at)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=16 * 1024**2)
    total = 0
    step = 1024**2
    try:
        end = guard.seek(0, os.SEEK_END)
        guard.seek(at)
        while True:
            chunk = guard.read(min(step, end - guard.tell()))
            data = inflater.decompress(chunk, step) if chunk else inflater.flush()
            while True:
                total += len(data)
                if total > limit:
                    raise DicomRejected(A700, f"deflated data set inflates beyond {limit} bytes")
                out.write(data)
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, step)
            if not chunk or inflater.eof:
                break
    except zlib.error as exc:
        out.close()
        raise DicomRejected(C000, f"deflated data set is corrupt: {exc}") from exc
    except DicomRejected:
        out.close()
        raise
    out.seek(0)
    return out, total
