"""Decoded frames of compressed originals, kept as derived objects so a frame is decoded once.

Why: a viewer asks for the same slice in several windows and widths (the phone's window presets, the
512 preview, the full width), and pre-rendering at ingest has already decoded every frame once. For
JPEG 2000 the decoder is nearly all of a cold preview's cost (OpenJPEG: ~16 ms for a 512x512 CT slice
on this machine, against ~2.5 ms for the rest of the render); JPEG lossless (~2 ms) and RLE (~1 ms)
pay less, but still more than reading back what was decoded. The samples are stored exactly as the
decoder returned them — dtype, shape, values — so a render from them is byte-identical to a render
from the original (tests/previews/test_decoded_frames.py).

Format: a 16-byte header ``YYPX`` + version byte + dtype code (numpy ``str``, 3 bytes) + rows, columns
(little-endian uint32) + 0 padding to 16 bytes, then the samples, compressed according to the version:
- version 1 (16-bit samples, ``<frame>.v1.zst``): byte-shuffled (high bytes together, low bytes
  together: CT's high bytes are nearly constant) and zstd level 1. Measured on a 512x512 16-bit CT
  slice: 225 kB (J2K lossless of the same slice: ~200 kB, raw 524 kB), 1.2 ms to write, 0.5 ms to read.
- version 2 (8-bit samples, ``<frame>.v2.lz4``): LZ4 (block format, no shuffle). 8-bit frames are the
  grey JPEG baseline ones, whose whole render is cheap, so the read-back is a large share of it:
  measured on the benchmark's 512x512 8-bit CT slice (docs/capacity.md, round 4), zstd level 1 took
  ~300 us to read back (95 kB), LZ4 ~100 us (150 kB), a plain 256 kB read ~20 us; LZ4 keeps the object
  below the 16-bit frames' size (the capacity model's 225 kB per kept slice still holds).
8-bit frames kept as version 1 before version 2 existed are under the old key, never asked for again:
the frame is decoded once more (in the render pool) and the old object ages out with the sweep.
Only grey frames with one sample of 8 or 16 bits are kept (colour goes through pydicom's photometric
bookkeeping each time).

Keys live under the renderer version (``r<RENDERER_VERSION>/px/…``), so the derived-cache sweep
(storage/sweep.py) ages them out and drops them with an old renderer like any preview. Anything
unexpected when reading one back (missing, truncated after a power loss, another layout) is a miss:
the original is decoded again and the object rewritten.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from types import ModuleType

import numpy as np

from backend.rendering import RENDERER_VERSION, FrameInfo, FrameSource
from backend.rendering.errors import FrameOutOfRange

from .cache import DerivedCache

MAGIC = b"YYPX"
VERSION = 1  # 16-bit samples: byte shuffle + zstd
VERSION_8BIT = 2  # 8-bit samples: LZ4
_HEADER = struct.Struct("<4sB3sII")  # magic, version, dtype code, rows, columns
HEADER_SIZE = 16
GREY = {"MONOCHROME1", "MONOCHROME2"}


def _load() -> ModuleType | None:
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    ready = imagecodecs.ZSTD.available and imagecodecs.LZ4.available and hasattr(imagecodecs, "byteshuffle_encode")
    return imagecodecs if ready else None


_codecs = _load()


def enabled() -> bool:
    return _codecs is not None


def relpath(sha256: str, frame: int, *, bits_allocated: int = 16) -> str:
    name = f"{frame}.v{VERSION_8BIT}.lz4" if bits_allocated == 8 else f"{frame}.v{VERSION}.zst"
    return f"r{RENDERER_VERSION}/px/{sha256[:2]}/{sha256}/{name}"


def eligible(info: FrameInfo) -> bool:
    fmt = info.fmt
    return (_codecs is not None and fmt.samples_per_pixel == 1 and fmt.bits_allocated in (8, 16)
            and not fmt.is_float and fmt.photometric in GREY)


def pack(arr: np.ndarray) -> bytes | None:
    """The frame as stored bytes; None for arrays this format does not keep."""
    if _codecs is None or arr.ndim != 2 or arr.dtype.itemsize not in (1, 2) or arr.dtype.kind not in "iu":
        return None
    a = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    code = a.dtype.str.encode()
    version = VERSION_8BIT if a.dtype.itemsize == 1 else VERSION
    header = _HEADER.pack(MAGIC, version, code, a.shape[0], a.shape[1]).ljust(HEADER_SIZE, b"\0")
    if version == VERSION_8BIT:
        return header + bytes(_codecs.lz4_encode(a.tobytes()))
    body = _codecs.byteshuffle_encode(a)
    return header + bytes(_codecs.zstd_encode(np.ascontiguousarray(body).tobytes(), level=1))


def unpack(data: bytes, *, rows: int, columns: int) -> np.ndarray | None:
    """The frame back, exactly as packed; None unless it is whole and of the expected size."""
    if _codecs is None or len(data) < HEADER_SIZE:
        return None
    magic, version, code, r, c = _HEADER.unpack_from(data)
    if magic != MAGIC or version not in (VERSION, VERSION_8BIT) or (r, c) != (rows, columns):
        return None
    try:
        dtype = np.dtype(code.decode("ascii"))
        if dtype.kind not in "iu" or dtype.itemsize not in (1, 2):
            return None
        size = rows * columns * dtype.itemsize
        body = memoryview(data)[HEADER_SIZE:]
        raw = _codecs.lz4_decode(body, out=size) if version == VERSION_8BIT else _codecs.zstd_decode(body, out=size)
    except Exception:  # noqa: BLE001 - a damaged object is a miss, never an error
        return None
    if len(raw) != rows * columns * dtype.itemsize:
        return None
    arr = np.frombuffer(raw, dtype=dtype).reshape(rows, columns)
    return _codecs.byteshuffle_decode(arr.copy()) if dtype.itemsize > 1 else arr


class NotDecoded(LookupError):
    """The frame was never decoded: a caller that must not run a decoder (the web process) stops here."""


def never_decode() -> FrameSource:
    raise NotDecoded


class CachedFrames:
    """A FrameSource that reads frames decoded earlier and decodes (once, through `decode`) the rest.

    `infos`: the header facts (jobs._raw_infos: parsed once per original, no pixel decoding); the
    decoding source is made only when a frame is missing, so a hit reads neither the original's
    pixel data nor its header."""

    def __init__(self, *, sha256: str, infos: list[FrameInfo], cache: DerivedCache,
                 decode: Callable[[], FrameSource], write: bool = True) -> None:
        self._sha, self._infos, self._cache, self._decode = sha256, infos, cache, decode
        self._source: FrameSource | None = None
        self._write = write
        self.hits = 0

    @property
    def number_of_frames(self) -> int:
        return self._infos[0].fmt.number_of_frames

    def info(self, index: int) -> FrameInfo:
        if not 0 <= index < self.number_of_frames:
            raise FrameOutOfRange(message_en=f"frame {index} does not exist", message_zh=f"第 {index} 帧不存在")
        return self._infos[index] if len(self._infos) > 1 else self._infos[0]

    def _origin(self) -> FrameSource:
        if self._source is None:
            self._source = self._decode()
        return self._source

    def frame(self, index: int) -> tuple[np.ndarray, FrameInfo]:
        info = self.info(index)
        key = relpath(self._sha, index, bits_allocated=info.fmt.bits_allocated)
        data = self._cache.get(key)
        if data is not None:
            arr = unpack(data, rows=info.fmt.rows, columns=info.fmt.columns)
            if arr is not None:
                self.hits += 1
                return arr, info
        arr, decoded_info = self._origin().frame(index)
        if self._write and decoded_info.fmt.photometric == info.fmt.photometric:
            packed = pack(arr)
            if packed is not None:
                self._cache.write(key, packed)
        return arr, decoded_info
