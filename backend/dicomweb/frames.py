"""WADO-RS frame retrieval (DICOM PS3.18 §10.4.1.1.2 "Frames", bulk data media types §8.7.3.5). No FastAPI.

    GET /dicomweb/studies/{s}/series/{se}/instances/{i}/frames/{1,2,...}

answers ``multipart/related`` with one part per asked frame, in the order asked:

* ``application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1`` (the default): the frame's pixel
  cells uncompressed, little endian, Bits Allocated wide (PS3.5 §8.1.1). Values are the decoded pixel
  values a viewer computes with: bits above Bits Stored masked, signed values sign-extended (PS3.3
  C.7.6.3.1.1; what pydicom's ``pixel_array`` gives), so a client need not know about stray high bits.
  A native original's colour planes stay as it stores them (its Planar Configuration); a decoded
  compressed one is pixel-interleaved, and RGB when the original was YBR (the decoder converts it,
  PS3.5 §8.2.1 Note). 1-bit frames stay packed.
* the ORIGINAL compressed bytes of the frame, with the part's Content-Type naming its media type and
  transfer syntax, when the Accept header allows it: ``type="application/octet-stream";
  transfer-syntax=*`` (any syntax: the server's choice, PS3.18 §8.7.3.5.2) or the original's own media
  type (``image/jpeg``, ``image/jls``, ``image/jp2``, ``image/jpx``, ``image/jphc``,
  ``image/dicom-rle``; PS3.18 Table 8.7.3-5). Nothing is transcoded into another compressed syntax.

Frames are pixel values for a viewer, not Part-10 files: a share session may read them whether or not
the patient allowed downloads (only originals are withheld then), a hospital reads its own studies.
Decoding a compressed frame runs in the render worker pool (same budget and isolation as previews).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from backend.errors import BadRequest, NotAcceptable
from backend.previews.cache import DerivedCache, store_down_as_render_error
from backend.previews.jobs import InstanceRef, frame_source
from backend.rendering import Limits
from backend.storage.base import ObjectStore
from backend.studies.models import Instance

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
OCTET = "application/octet-stream"
MAX_FRAMES = 1000  # parts per response (same bound as the rendered resources)
# PS3.18 Table 8.7.3-5: the media type of each compressed transfer syntax a frame can be sent in as is.
MEDIA_OF_TS = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", "1.2.840.10008.1.2.5": "image/dicom-rle",
}
_PARAM = re.compile(r'\s*([A-Za-z-]+)\s*=\s*"?([^";]*)"?\s*')


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the Accept header allows: uncompressed frames, and/or originals of these media types."""

    uncompressed: bool
    original_types: frozenset[str]  # media types of compressed originals acceptable as they are ("*" = any)

    def original_ok(self, transfer_syntax: str) -> bool:
        media = MEDIA_OF_TS.get(transfer_syntax)
        return media is not None and ("*" in self.original_types or media in self.original_types)


def _params(text: str) -> dict[str, str]:
    out = {}
    for piece in text.split(";"):
        found = _PARAM.fullmatch(piece)
        if found:
            out[found.group(1).lower()] = found.group(2).strip()
    return out


def negotiate(accept: str | None) -> Wanted:
    """PS3.18 §8.7.3.5 / §8.7.4. No Accept, ``*/*``, ``multipart/*`` or ``multipart/related`` without a
    type: uncompressed. q-values are not weighed (a listed type is acceptable). 406 when nothing fits."""
    if not accept or not accept.strip():
        return Wanted(uncompressed=True, original_types=frozenset())
    uncompressed, originals = False, set()
    for item in accept.split(","):
        media, _, rest = item.partition(";")
        media = media.strip().lower()
        params = _params(rest)
        if params.get("q", "1") in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in ("*/*", "multipart/*"):
            uncompressed = True
            continue
        if media != "multipart/related":
            continue
        kind = params.get("type", "").lower()
        syntax = params.get("transfer-syntax", "")
        if kind in ("", OCTET):
            if syntax == "*":
                uncompressed = True
                originals.add("*")
            elif syntax in ("", EXPLICIT_LE):
                uncompressed = True
        elif kind in MEDIA_OF_TS.values() or kind == "image/*":
            originals.add("*" if kind == "image/*" else kind)
    if not uncompressed and not originals:
        raise NotAcceptable(
            'frames are available as multipart/related; type="application/octet-stream" (uncompressed, or '
            "transfer-syntax=* for the original compressed bytes) or as the original's own image media type",
            code="frames-not-acceptable")
    return Wanted(uncompressed=uncompressed, original_types=frozenset(originals))


def parse_frame_list(value: str, *, frames: int) -> list[int]:
    """"1,3,3" → [0, 2, 2] (0-based, order kept). PS3.18 §8.2.1: frame numbers start at 1; a number the
    instance does not have, a malformed list or more than MAX_FRAMES numbers is a 400."""
    try:
        numbers = [int(x) for x in value.split(",")]
    except ValueError:
        raise BadRequest("frame numbers must be a comma-separated list of positive integers",
                         code="bad-frames", zh="帧号须为以逗号分隔的正整数") from None
    if not numbers or len(numbers) > MAX_FRAMES:
        raise BadRequest(f"between 1 and {MAX_FRAMES} frame numbers per request", code="bad-frames",
                         zh=f"每次请求 1 至 {MAX_FRAMES} 帧")
    bad = [n for n in numbers if not 1 <= n <= frames]
    if bad:
        raise BadRequest(f"frame {bad[0]} does not exist: this instance has {frames} frame(s), numbered from 1",
                         code="bad-frames", zh=f"第 {bad[0]} 帧不存在（共 {frames} 帧，从 1 开始编号）")
    return [n - 1 for n in numbers]


# -- the bytes of one frame -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Part:
    content_type: str
    data: bytes


def original_fragments(instance: Instance, index: int) -> list[tuple[int, int]] | None:
    """(file offset, length) of the fragments holding frame ``index`` of an encapsulated original, or
    None when they cannot be told apart (several fragments per frame and no Basic Offset Table).
    PS3.5 §A.4: one frame per fragment, or a single frame in several fragments, or the Basic Offset
    Table giving each frame's first item relative to the first fragment's item tag."""
    fragments = [(int(o), int(n)) for o, n in instance.pixel_fragments or ()]
    count = max(1, instance.frames or 1)
    if not fragments:
        return None
    if count == 1:
        return fragments
    if len(fragments) == count:
        return [fragments[index]]
    table = [int(x) for x in instance.pixel_basic_offsets or ()]
    if len(table) != count:
        return None
    first_item = fragments[0][0] - 8  # each fragment is an 8-byte item header, then its bytes
    start, end = table[index], table[index + 1] if index + 1 < count else None
    return [(o, n) for o, n in fragments if (o - 8 - first_item) >= start and (end is None or o - 8 - first_item < end)]


def read_original(blobs: ObjectStore, key: str, fragments: list[tuple[int, int]]) -> bytes:
    """The frame's compressed bitstream as stored: one ranged read per fragment."""
    return b"".join(blobs.read_range(key=key, offset=offset, length=length) for offset, length in fragments)


def native_direct(instance: Instance) -> bool:
    """Native little-endian cells at an offset ingest recorded: one read, no decoder (8/16/32 bits)."""
    return (not instance.pixel_encapsulated and instance.pixel_data_offset is not None
            and instance.transfer_syntax_uid in (EXPLICIT_LE, IMPLICIT_LE)
            and instance.bits_allocated in (8, 16, 32) and instance.photometric_interpretation != "YBR_FULL_422")


def read_native(blobs: ObjectStore, instance: Instance, index: int) -> bytes:
    """Frame ``index`` of native little-endian pixel data, straight from the file (PS3.5 §8.1.1:
    frames back to back), then normalised like a decoded frame. Colour stays as stored (Planar
    Configuration as the header says)."""
    bits = int(instance.bits_allocated or 16)
    samples = int(instance.samples_per_pixel or 1)
    size = int(instance.rows or 0) * int(instance.columns or 0) * samples * bits // 8
    data = blobs.read_range(key=instance.blob_key, offset=int(instance.pixel_data_offset or 0) + index * size,
                            length=size)  # one ranged read
    if len(data) != size:
        raise BadRequest("the stored pixel data is shorter than its header says", code="frame-truncated",
                         zh="像素数据不完整")
    signed = instance.pixel_representation == 1
    arr = np.frombuffer(data, dtype=np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"))
    return cells(arr, bits_allocated=bits, bits_stored=instance.bits_stored, signed=signed)


def cells(arr: np.ndarray, *, bits_allocated: int, bits_stored: int | None, signed: bool) -> bytes:
    """Decoded samples → little-endian cells of Bits Allocated (PS3.5 §8.1.1), values limited to Bits
    Stored (masked, or sign-extended when Pixel Representation is 1; PS3.3 C.7.6.3.1.1)."""
    if bits_allocated == 1 or arr.dtype == np.bool_:
        return np.packbits(arr.astype(np.uint8).ravel() & 1, bitorder="little").tobytes()
    if arr.dtype.kind == "f":
        return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    width = 8 * (bits_allocated // 8 or 1)
    kind = "i" if signed else "u"
    out = np.ascontiguousarray(arr).astype(np.dtype(f"<{kind}{width // 8}"), copy=False)
    stored = int(bits_stored or width)
    if 0 < stored < width:
        unsigned = out.view(np.dtype(f"<u{width // 8}")) & np.array((1 << stored) - 1, dtype=f"<u{width // 8}")
        out = unsigned.view(out.dtype)
        if signed:
            shift = width - stored
            out = np.right_shift(np.left_shift(out, shift), shift)
    return out.tobytes()


@store_down_as_render_error
def decode_frames(ref: InstanceRef, indices: list[int], bits_allocated: int, bits_stored: int | None,
                  signed: bool, cache_root: str, limits: Limits) -> list[bytes]:
    """Render-pool job: decode ``indices`` of one original with the previews' frame sources (pydicom
    and its plugins, imagecodecs where faster) and return their cells. Picklable in and out."""
    source = frame_source(ref, cache=DerivedCache(cache_root), limits=limits)
    out = []
    for index in indices:
        arr, _ = source.frame(index)
        width = bits_allocated
        if width != 1 and arr.dtype.kind != "f" and arr.dtype.itemsize * 8 != width:
            width = arr.dtype.itemsize * 8  # e.g. a decoder's uint16 for 12-bit JPEG stored in 16-bit cells
        out.append(cells(arr, bits_allocated=width, bits_stored=bits_stored, signed=signed))
    return out


def uncompressed_type() -> str:
    return f"{OCTET}; transfer-syntax={EXPLICIT_LE}"


def original_type(transfer_syntax: str, wanted: Wanted) -> str:
    """The part's Content-Type of an original compressed frame: its own media type when the client
    named it, else octet-stream with the transfer syntax (PS3.18 §8.7.3.5.2)."""
    media = MEDIA_OF_TS[transfer_syntax]
    if media in wanted.original_types:
        return f"{media}; transfer-syntax={transfer_syntax}"
    return f"{OCTET}; transfer-syntax={transfer_syntax}"


def multipart(parts: Iterator[Part], *, boundary: str) -> Iterator[bytes]:
    """RFC 2387 body, one part at a time (a long frame list is never held in memory at once)."""
    for part in parts:
        yield (f"--{boundary}\r\nContent-Type: {part.content_type}\r\nContent-Length: {len(part.data)}\r\n\r\n"
               .encode("ascii"))
        yield part.data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def new_boundary() -> str:
    return f"yunying-frames-{secrets.token_hex(12)}"


def response_type(first: Part, boundary: str) -> str:
    media = first.content_type.split(";")[0]
    syntax = first.content_type.partition("transfer-syntax=")[2]
    extra = f"; transfer-syntax={syntax}" if syntax else ""
    return f'multipart/related; type="{media}"{extra}; boundary={boundary}'
