"""Decode adapters: where pixels come from. The only module of the package that touches files.

Two sources behind one small protocol:
- `DatasetFrameSource`: a pydicom Dataset already read; one frame decoded with pydicom's decoder
  (pylibjpeg plugins for JPEG / JPEG-LS / JPEG 2000 / HTJ2K, numpy for native, RLE, deflate).
- `RawFrameSource` / `read_raw_frame`: uncompressed pixel data whose byte offset and layout were
  recorded at ingest; the frame is read straight from the file with numpy (no dcmread). PS3.5 8.2:
  native pixel data is a plain array of cells, frame after frame, so a frame's bytes are at
  offset + index * frame_size.
Limits are checked from the header *before* anything is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ImplicitVRLittleEndian

from . import fastcodecs
from .color import interleave
from .errors import DecodeFailed, FrameOutOfRange, LimitExceeded, RenderError, UnsupportedImage
from .model import FrameInfo, PixelFormat
from .params import frame_info, pixel_format

# (offset, length) -> bytes: how a caller lends this module a ranged read of an object it stores.
RangeRead = Callable[[int, int], bytes]

__all__ = [
    "DatasetFrameSource",
    "FrameSource",
    "Limits",
    "RawFrameSource",
    "RenderError",
    "check_limits",
    "decode_frame",
    "read_raw_frame",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets checked before decoding (the settings layer supplies real values)."""

    max_pixels: int = 400_000_000  # rows * columns * samples * frames of the whole object
    max_frame_pixels: int = 50_000_000  # rows * columns * samples of one frame
    max_frames: int = 5000


def check_limits(fmt: PixelFormat, *, limits: Limits) -> None:
    frame_pixels = fmt.rows * fmt.columns * fmt.samples_per_pixel
    total = frame_pixels * fmt.number_of_frames
    if fmt.number_of_frames > limits.max_frames:
        raise LimitExceeded(
            message_en=f"{fmt.number_of_frames} frames exceed the limit of {limits.max_frames}",
            message_zh=f"影像帧数 {fmt.number_of_frames} 超过上限 {limits.max_frames}",
        )
    if frame_pixels > limits.max_frame_pixels or total > limits.max_pixels:
        raise LimitExceeded(
            message_en=(
                f"image of {fmt.rows}x{fmt.columns}x{fmt.samples_per_pixel} x {fmt.number_of_frames} frames "
                f"({total} samples) exceeds the pixel limit"
            ),
            message_zh=f"影像过大（{fmt.rows}×{fmt.columns}，{fmt.number_of_frames} 帧），超过像素上限",
        )


def _check_index(fmt: PixelFormat, index: int) -> None:
    if not 0 <= index < fmt.number_of_frames:
        raise FrameOutOfRange(
            message_en=f"frame {index} does not exist (the image has {fmt.number_of_frames})",
            message_zh=f"第 {index} 帧不存在（共 {fmt.number_of_frames} 帧）",
        )


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return UID(str(uid))
    # No File Meta Information (old ACR-NEMA style files): the default transfer syntax, PS3.5 10.1.
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit is not False and little is not False:
        return ImplicitVRLittleEndian
    return UID("1.2.840.10008.1.2.1" if little is not False else "1.2.840.10008.1.2.2")


def decode_frame(ds: Dataset, *, index: int, fmt: PixelFormat) -> tuple[np.ndarray, str]:
    """Decode one frame; returns the samples and the photometric interpretation they are now in.

    pydicom converts YBR_FULL(_422) JPEG to RGB and OpenJPEG applies the J2K inverse component
    transform; the decoder's metadata says which photometric the array is actually in.
    """
    _check_index(fmt, index)
    tsyntax = _transfer_syntax(ds)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise UnsupportedImage(
            message_en=f"no decoder for transfer syntax {tsyntax}", message_zh=f"不支持的传输语法 {tsyntax}"
        ) from None
    if not decoder.is_available:
        raise DecodeFailed(
            message_en=f"the decoder plugin for {tsyntax.name} is not installed",
            message_zh=f"未安装 {tsyntax.name} 的解码插件",
        )
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        # The decoder reads the transfer syntax from the file meta; supply the inferred one.
        meta = getattr(ds, "file_meta", None) or FileMetaDataset()
        meta.TransferSyntaxUID = tsyntax
        ds.file_meta = meta
    if fastcodecs.can_decode(tsyntax, fmt):
        try:
            return fastcodecs.decode(ds, index=index, fmt=fmt, tsyntax=tsyntax), fmt.photometric
        except Exception:  # noqa: BLE001, S110 - fall back to the reference decoder below
            pass
    try:
        arr, meta = decoder.as_array(ds, index=index)
    except RenderError:
        raise
    except Exception as exc:
        raise DecodeFailed(
            message_en=f"pixel data cannot be decoded: {str(exc)[:200]}",
            message_zh="像素数据无法解码（文件可能已损坏或被截断）",
        ) from exc
    photometric = str(meta.get("photometric_interpretation", fmt.photometric))
    return arr, photometric


class FrameSource(Protocol):
    """Where frames come from: header knowledge plus samples of one frame at a time."""

    @property
    def number_of_frames(self) -> int: ...

    def info(self, index: int) -> FrameInfo:
        """Header facts of a frame without decoding it (to pick a window preset first)."""
        ...

    def frame(self, index: int) -> tuple[np.ndarray, FrameInfo]: ...


class DatasetFrameSource:
    """Frames of a pydicom Dataset that has already been read (header parsed, pixels not decoded)."""

    def __init__(self, ds: Dataset, *, limits: Limits | None = None) -> None:
        self._ds = ds
        self._fmt = pixel_format(ds)
        check_limits(self._fmt, limits=limits or Limits())

    @property
    def number_of_frames(self) -> int:
        return self._fmt.number_of_frames

    def info(self, index: int) -> FrameInfo:
        _check_index(self._fmt, index)
        return frame_info(self._ds, frame=index, fmt=self._fmt)

    def frame(self, index: int) -> tuple[np.ndarray, FrameInfo]:
        info = self.info(index)
        arr, photometric = decode_frame(self._ds, index=index, fmt=self._fmt)
        if photometric != info.fmt.photometric:
            info = replace(info, fmt=replace(info.fmt, photometric=photometric))
        return arr, info


def read_raw_frame(
    *,
    path: str | Path | RangeRead,
    offset: int,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    pixel_representation: int,
    big_endian: bool,
    frame_index: int,
    planar_configuration: int = 0,
) -> np.ndarray:
    """Read one frame of native pixel data straight from a file (no dcmread).

    `offset` is the first byte of the Pixel Data *value* (after the tag/VR/length header). Samples
    are returned as stored: bits above Bits Stored are not masked and values are not sign-extended
    beyond the allocated width; `lut.display_table` does both. Not for YBR_FULL_422 native data
    (two luminance samples share one chroma pair, PS3.3 C.7.6.3.1.2) nor 1-bit data.
    """
    if bits_allocated not in (8, 16, 32):
        raise UnsupportedImage(
            message_en=f"raw frame reading supports 8/16/32 bits allocated, not {bits_allocated}",
            message_zh="不支持该位深的直接读取",
        )
    kind = "i" if pixel_representation == 1 else "u"
    dtype = np.dtype(f"{'>' if big_endian else '<'}{kind}{bits_allocated // 8}")
    count = rows * columns * samples
    frame_bytes = count * dtype.itemsize
    start = offset + frame_index * frame_bytes
    if callable(path):  # a ranged read of an object store (the caller's I/O; this module does none of its own)
        buf = path(start, frame_bytes)
    else:
        with open(path, "rb") as fh:
            fh.seek(start)
            buf = fh.read(frame_bytes)
    if len(buf) != frame_bytes:
        raise DecodeFailed(
            message_en=f"pixel data truncated: frame {frame_index} needs {frame_bytes} bytes, got {len(buf)}",
            message_zh="像素数据不完整（文件被截断）",
        )
    arr = np.frombuffer(buf, dtype=dtype)
    if samples == 1:
        return arr.reshape(rows, columns)
    if planar_configuration == 1:
        return interleave(arr.reshape(samples, rows, columns), planar_configuration=1)
    return arr.reshape(rows, columns, samples)


class RawFrameSource:
    """Frames of native pixel data at a known offset, with header facts recorded at ingest.

    `info` is one FrameInfo for every frame, or one per frame (enhanced objects whose functional
    groups differ per frame). See `serial.py` for storing them.
    """

    def __init__(
        self,
        *,
        path: str | Path | RangeRead,
        offset: int,
        info: FrameInfo | Sequence[FrameInfo],
        big_endian: bool = False,
        planar_configuration: int = 0,
        limits: Limits | None = None,
    ) -> None:
        self._infos = [info] if isinstance(info, FrameInfo) else list(info)
        if not self._infos:
            raise ValueError("at least one FrameInfo is needed")
        self._fmt = self._infos[0].fmt
        check_limits(self._fmt, limits=limits or Limits())
        if self._fmt.photometric == "YBR_FULL_422" or self._fmt.bits_allocated not in (8, 16, 32):
            raise UnsupportedImage(
                message_en="this pixel layout cannot be read directly; decode it with pydicom",
                message_zh="该像素布局不支持直接读取",
            )
        self._path, self._offset = path, offset
        self._big_endian, self._planar = big_endian, planar_configuration

    @property
    def number_of_frames(self) -> int:
        return self._fmt.number_of_frames

    def info(self, index: int) -> FrameInfo:
        _check_index(self._fmt, index)
        return self._infos[index] if len(self._infos) > 1 else self._infos[0]

    def frame(self, index: int) -> tuple[np.ndarray, FrameInfo]:
        info = self.info(index)
        arr = read_raw_frame(
            path=self._path,
            offset=self._offset,
            rows=self._fmt.rows,
            columns=self._fmt.columns,
            samples=self._fmt.samples_per_pixel,
            bits_allocated=self._fmt.bits_allocated,
            pixel_representation=self._fmt.pixel_representation,
            big_endian=self._big_endian,
            frame_index=index,
            planar_configuration=self._planar,
        )
        if self._fmt.is_float:  # Float Pixel Data (7FE0,0008): IEEE 754 cells of the same width
            arr = arr.view(np.dtype(f"{'>' if self._big_endian else '<'}f{self._fmt.bits_allocated // 8}"))
        return arr, info
