"""Where the pixels are: locate Pixel Data in a DICOM file without reading it.

A renderer can then read one frame straight from the stored original (``os.pread``/``mmap``)
without running pydicom over a 2 GB multi-frame file again.

* Native (uncompressed) transfer syntaxes: one contiguous value; frame ``i`` starts at
  ``offset + i * frame_bytes`` (PS3.5 §8.1.1, §8.2).
* Encapsulated transfer syntaxes: undefined length, a Basic Offset Table item, then one item per
  fragment, then a Sequence Delimitation Item (PS3.5 §A.4). We list the fragments (offset, length).

Everything here takes an open binary file and plain integers; no pydicom.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from backend.dicom.errors import DicomRejected, FailureReason

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009
PIXEL_TAGS = frozenset({PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA})

C000 = FailureReason.CANNOT_UNDERSTAND
A900 = FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
_ITEM = 0xFFFEE000
_SEQ_DELIM = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


@dataclass(frozen=True, slots=True)
class NativePixels:
    """Uncompressed pixel data: ``length`` bytes at file ``offset``; frames are back to back."""

    tag: int
    offset: int
    length: int
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    pixel_representation: int
    planar_configuration: int
    little_endian: bool
    frame_bytes: int

    def frame_offset(self, index: int) -> int:
        """File offset of frame ``index`` (0-based). 1-bit data (SEG) is packed across frame
        boundaries (PS3.5 §8.1.1): when a frame is not a whole number of bytes there is no byte
        offset, and this raises ValueError (decode the whole value instead)."""
        if not 0 <= index < self.frames:
            raise IndexError(index)
        if self.bits_allocated == 1 and (self.rows * self.columns * self.samples_per_pixel) % 8:
            raise ValueError("1-bit frames do not start on byte boundaries")
        return self.offset + index * self.frame_bytes


@dataclass(frozen=True, slots=True)
class EncapsulatedPixels:
    """Compressed pixel data: fragments as (file offset of the fragment bytes, length)."""

    offset: int
    basic_offset_table: tuple[int, ...]
    fragments: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ImageShape:
    """Image Pixel Module values as read (None = absent or unreadable), PS3.3 C.7.6.3."""

    rows: int | None
    columns: int | None
    frames: int | None
    samples_per_pixel: int
    bits_allocated: int | None
    pixel_representation: int
    planar_configuration: int


@dataclass(frozen=True, slots=True)
class PixelHeader:
    tag: int
    value_offset: int
    length: int  # 0xFFFFFFFF for undefined length


def read_pixel_header(fp: BinaryIO, *, at: int, little_endian: bool, implicit_vr: bool) -> PixelHeader | None:
    """Read the element header at ``at``; None when it is not a Pixel Data element."""
    fp.seek(at)
    head = fp.read(8)
    if len(head) < 8:
        return None
    endian = "<" if little_endian else ">"
    group, element = struct.unpack(f"{endian}HH", head[:4])
    tag = group << 16 | element
    if tag not in PIXEL_TAGS:
        return None
    if implicit_vr:
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        return PixelHeader(tag=tag, value_offset=at + 8, length=length)
    vr = head[4:6]
    if vr in _LONG_VRS:
        extra = fp.read(4)
        if len(extra) < 4:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "file ends inside the Pixel Data header")
        (length,) = struct.unpack(f"{endian}L", extra)
        return PixelHeader(tag=tag, value_offset=at + 12, length=length)
    (length,) = struct.unpack(f"{endian}H", head[6:8])
    return PixelHeader(tag=tag, value_offset=at + 8, length=length)


def expected_native_bytes(*, rows: int, columns: int, frames: int, samples: int, bits_allocated: int) -> int:
    """Bytes the Image Pixel Module says the value holds (PS3.5 §8.1.1; 1-bit data is packed)."""
    bits = rows * columns * frames * samples * bits_allocated
    return (bits + 7) // 8


def walk_fragments(fp: BinaryIO, *, value_offset: int, file_size: int, max_fragments: int) -> EncapsulatedPixels:
    """Walk the items of encapsulated Pixel Data by seeking; memory stays O(fragments).

    Raises 0xC000 when an item is malformed or runs past the end of the file (a truncated upload)
    and 0xA700 when there are more than ``max_fragments`` items.
    """
    position = value_offset
    offsets: tuple[int, ...] = ()
    fragments: list[tuple[int, int]] = []
    first = True
    while True:
        fp.seek(position)
        head = fp.read(8)
        if len(head) < 8:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND,
                "encapsulated Pixel Data has no Sequence Delimitation Item (file truncated?)",
            )
        group, element, length = struct.unpack("<HHL", head)
        tag = group << 16 | element
        if tag == _SEQ_DELIM:
            break
        if tag != _ITEM or length == _UNDEFINED:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND,
                f"unexpected tag ({group:04X},{element:04X}) in encapsulated Pixel Data at byte {position}",
            )
        start = position + 8
        if start + length > file_size:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND,
                f"pixel data fragment at byte {position} declares {length} bytes but the file ends first",
            )
        if first:
            # PS3.5 §A.4: the first item is the Basic Offset Table (possibly empty).
            if length % 4 != 0 or length // 4 > max_fragments:
                raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "malformed Basic Offset Table")
            table = fp.read(length)
            offsets = struct.unpack(f"<{length // 4}L", table)
            first = False
        else:
            if len(fragments) >= max_fragments:
                raise DicomRejected(FailureReason.OUT_OF_RESOURCES, f"more than {max_fragments} pixel data fragments")
            fragments.append((start, length))
        position = start + length
    return EncapsulatedPixels(offset=value_offset, basic_offset_table=offsets, fragments=tuple(fragments))


def locate_pixels(
    fp: BinaryIO,
    *,
    at: int,
    shape: ImageShape,
    encapsulated_ts: bool,
    implicit_vr: bool,
    little_endian: bool,
    file_size: int,
    max_pixels: int,
    max_fragments: int,
) -> tuple[NativePixels | None, EncapsulatedPixels | None, bool]:
    """Check the pixel budget, then describe the Pixel Data element at ``at`` (if any).

    Returns (native layout, encapsulated layout, has pixel data). Raises 0xA700 over ``max_pixels``
    (Rows × Columns × Frames × Samples, before anything is decoded), 0xC000 when the value runs past
    the end of the file, 0xA900 when it is shorter than the Image Pixel Module says.
    """
    header = read_pixel_header(fp, at=at, little_endian=little_endian, implicit_vr=implicit_vr)
    if header is None:
        return None, None, False
    rows, columns, samples = shape.rows, shape.columns, shape.samples_per_pixel
    if not rows or not columns or rows < 0 or columns < 0:
        raise DicomRejected(A900, "Pixel Data present but Rows/Columns missing or invalid")
    declared = shape.frames if shape.frames and shape.frames > 0 else None
    pixels = rows * columns * (declared or 1) * samples
    if pixels > max_pixels:
        raise DicomRejected(
            FailureReason.OUT_OF_RESOURCES,
            f"{rows}×{columns}×{declared or 1} frames×{samples} samples = {pixels} pixels exceeds "
            f"the limit of {max_pixels}",
        )
    if header.length == _UNDEFINED:
        if not encapsulated_ts:
            raise DicomRejected(C000, "undefined-length Pixel Data in a native transfer syntax")
        fragments = walk_fragments(
            fp, value_offset=header.value_offset, file_size=file_size, max_fragments=max_fragments
        )
        return None, fragments, True
    if header.value_offset + header.length > file_size:
        raise DicomRejected(
            C000,
            f"Pixel Data declares {header.length} bytes but only "
            f"{file_size - header.value_offset} remain in the file (truncated)",
        )
    if encapsulated_ts:
        # Non-conformant (PS3.5 §A.4 requires undefined length); keep it, the decoder may cope.
        return None, None, True
    default_bits = {FLOAT_PIXEL_DATA: 32, DOUBLE_FLOAT_PIXEL_DATA: 64}.get(header.tag, 8)
    bits = shape.bits_allocated or default_bits
    frame_bytes = expected_native_bytes(rows=rows, columns=columns, frames=1, samples=samples, bits_allocated=bits)
    if declared:
        frames = declared
    elif frame_bytes and header.length >= frame_bytes:
        frames = header.length // frame_bytes  # NumberOfFrames unreadable ("1A"): trust the value length
    else:
        frames = 1
    needed = expected_native_bytes(rows=rows, columns=columns, frames=frames, samples=samples, bits_allocated=bits)
    if header.length < needed:
        raise DicomRejected(
            A900, f"Pixel Data holds {header.length} bytes but Rows×Columns×Frames×Samples×Bits needs {needed}"
        )
    native = NativePixels(
        tag=header.tag,
        offset=header.value_offset,
        length=header.length,
        rows=rows,
        columns=columns,
        frames=frames,
        samples_per_pixel=samples,
        bits_allocated=bits,
        pixel_representation=shape.pixel_representation,
        planar_configuration=shape.planar_configuration,
        little_endian=little_endian,
        frame_bytes=frame_bytes,
    )
    return native, None, True
