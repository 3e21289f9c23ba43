"""Work done inside the render worker processes (see pool.py). Plain data in, files and bytes out.

Each function receives picklable values only (`InstanceRef`, strings, ints) and writes its results
into the derived cache itself (temp + rename), so the web process never holds pixel arrays.

Frame sources, fastest first:
1. the raw fast path: native (uncompressed) pixel data at the offset ingest recorded, read with
   numpy; the header facts (FrameInfo, serial.py) are parsed once per original and kept next to
   the previews as JSON (content-addressed by the original's sha256, so never stale);
2. compressed grey frames decoded before (pre-rendering, another window), read back from the derived
   cache (decoded.py), so a frame is decoded once;
3. pydicom's decoders (imagecodecs for RLE, JPEG lossless and grey JPEG baseline where installed) for
   everything else.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom

from backend.rendering import (
    DatasetFrameSource,
    FrameInfo,
    FrameSource,
    Limits,
    RawFrameSource,
    RenderError,
    Window,
    fastcodecs,
    find_preset,
    pack_scrub_strips,
    render_array,
)
from backend.rendering.encode import encode
from backend.rendering.errors import DecodeFailed, FrameOutOfRange, UnsupportedImage
from backend.rendering.frames import check_limits
from backend.rendering.model import Lut
from backend.rendering.presets import auto_window
from backend.rendering.serial import VERSION as INFO_VERSION
from backend.rendering.serial import frame_info_from_dict, frame_info_to_dict
from backend.storage.service import open_store

from . import decoded
from . import spec as S
from .cache import DerivedCache, store_down_as_render_error

# PS3.5 §A.1-A.3: native (unencapsulated) pixel data, frames back to back.
NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
NATIVE_BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_LOSSLESS = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"  # Process 1: 8-bit lossy (PS3.5 §A.4.1)


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """What a worker needs to find and decode one original (from the index row)."""

    store: str  # locator of the originals' store (storage/service.open_store)
    key: str
    sha256: str
    transfer_syntax_uid: str
    pixel_data_offset: int | None
    encapsulated: bool
    # Encapsulated pixel data: (file offset, length) of each fragment, as ingest recorded them.
    fragments: tuple[tuple[int, int], ...] | None = None


def fast_codecs() -> Any:
    """imagecodecs if installed. Measured on this machine, 512x512 16-bit CT frame, identical samples
    (tests/previews/test_frame_sources.py): DICOM RLE 0.9 ms vs pydicom's numpy RLE ~9 ms; JPEG
    lossless 1.9 ms vs pylibjpeg 6.6 ms (rendering/fastcodecs.py). Reading the fragments at the
    offsets ingest recorded also skips dcmread."""
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return imagecodecs


def _codec_ready(ts: str) -> bool:
    if ts == JPEG_BASELINE:  # libjpeg-turbo through imagecodecs (rendering/fastcodecs.py)
        return fastcodecs.baseline_available()
    codecs = fast_codecs()
    name = "DICOMRLE" if ts == RLE else "LJPEG" if ts in JPEG_LOSSLESS else None
    return bool(codecs is not None and name and getattr(codecs, name, None) and getattr(codecs, name).available)


class EncapsulatedFrameSource:
    """RLE Lossless (PS3.5 Annex G), JPEG lossless (Process 14) and JPEG baseline (Process 1, grey:
    libjpeg-turbo, rendering/fastcodecs.py) frames straight from the fragments ingest located: no
    dcmread. Frame i is fragment i when there is one fragment per frame (always so for RLE, PS3.5
    §A.4.2); a single-frame object may split its frame over several fragments. One sample per pixel
    only (grey or palette indices); colour goes through pydicom, which also does the photometric
    bookkeeping."""

    def __init__(self, *, ref: InstanceRef, infos: list[FrameInfo], limits: Limits) -> None:
        self._ref, self._infos = ref, infos
        self._fmt = infos[0].fmt
        check_limits(self._fmt, limits=limits)

    @staticmethod
    def supports(info: FrameInfo, ref: InstanceRef) -> bool:
        fmt, fragments = info.fmt, len(ref.fragments or ())
        return (fmt.samples_per_pixel == 1 and fmt.bits_allocated in (8, 16) and not fmt.is_float
                and (fragments == fmt.number_of_frames or (fmt.number_of_frames == 1 and fragments >= 1)))

    @property
    def number_of_frames(self) -> int:
        return self._fmt.number_of_frames

    def info(self, index: int) -> FrameInfo:
        if not 0 <= index < self._fmt.number_of_frames:
            raise FrameOutOfRange(message_en=f"frame {index} does not exist", message_zh=f"第 {index} 帧不存在")
        return self._infos[index] if len(self._infos) > 1 else self._infos[0]

    def _bytes(self, index: int) -> bytes:
        fragments = self._ref.fragments or ()
        parts = fragments if self._fmt.number_of_frames == 1 else fragments[index:index + 1]
        store = open_store(self._ref.store)  # one ranged read per fragment
        return b"".join(store.read_range(key=self._ref.key, offset=offset, length=length) for offset, length in parts)

    def frame(self, index: int) -> tuple[np.ndarray, FrameInfo]:
        info, fmt = self.info(index), self._fmt
        data = self._bytes(index)
        codecs = fast_codecs()
        try:
            if self._ref.transfer_syntax_uid == RLE:
                dtype = np.dtype(f"<{'i' if fmt.signed else 'u'}{fmt.bits_allocated // 8}")
                arr = np.frombuffer(codecs.dicomrle_decode(data, dtype.str), dtype=dtype)
                return arr.reshape(fmt.rows, fmt.columns), info
            if not fastcodecs.can_decode(self._ref.transfer_syntax_uid, fmt):
                raise ValueError(f"no fast decoder for {self._ref.transfer_syntax_uid} at {fmt.bits_allocated} bits")
            # JPEG lossless, or grey JPEG baseline through libjpeg-turbo; sign-extended like pydicom's samples
            arr = fastcodecs.decode_codestream(data, tsyntax=self._ref.transfer_syntax_uid, fmt=fmt)
        except Exception as exc:
            raise DecodeFailed(message_en=f"pixel data cannot be decoded: {str(exc)[:200]}",
                               message_zh="像素数据无法解码（文件可能已损坏）") from exc
        return arr, info


class WindowNotApplicable(RenderError):
    reason = "window_not_applicable"


def _info_relpath(sha256: str) -> str:
    return f"info/v{INFO_VERSION}/{sha256[:2]}/{sha256}.json"


def _ranges(ref: InstanceRef) -> Callable[[int, int], bytes]:
    """The raw fast path's reads: one ranged read of the store per frame."""
    store = open_store(ref.store)
    return lambda offset, length: store.read_range(key=ref.key, offset=offset, length=length)


def raw_ok(ref: InstanceRef) -> bool:
    """Native pixel data at an offset ingest recorded: readable with numpy, no decoder involved."""
    return (not ref.encapsulated and ref.pixel_data_offset is not None
            and (ref.transfer_syntax_uid in NATIVE_LE or ref.transfer_syntax_uid == NATIVE_BE))


def _read(ref: InstanceRef, *, header_only: bool) -> pydicom.Dataset:
    fh = open_store(ref.store).open(key=ref.key)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # defer_size: the header is parsed, Pixel Data stays in the store (we only need its presence).
            return pydicom.dcmread(fh, force=True, defer_size=1024 if header_only else None)
    finally:
        # A file is reopened by name for a deferred value (pydicom); a store's reader stays open with
        # the data set, which reads deferred values (a palette's LUT data) from it.
        if isinstance(fh, io.BufferedReader):
            fh.close()


def _encapsulated_ok(ref: InstanceRef) -> bool:
    return ref.encapsulated and bool(ref.fragments) and _codec_ready(ref.transfer_syntax_uid)


# Parsed header facts by original sha256, per process: content-addressed, so never stale. Saves the JSON
# read + parse (~0.35 ms of a ~3 ms cold preview) when a viewer walks through a series' windows/widths.
_INFOS: dict[str, tuple[list[FrameInfo], int]] = {}
_INFOS_MAX = 4096


def _raw_infos(ref: InstanceRef, cache: DerivedCache, limits: Limits) -> tuple[list[FrameInfo], int] | None:
    """Per-frame header facts for the raw path: from memory, the JSON next to the previews, else parsed once."""
    known = _INFOS.get(ref.sha256)
    if known is not None:
        return known
    found = _raw_infos_uncached(ref, cache, limits)
    if len(_INFOS) >= _INFOS_MAX:
        _INFOS.clear()
    _INFOS[ref.sha256] = found
    return found


def _raw_infos_uncached(ref: InstanceRef, cache: DerivedCache, limits: Limits) -> tuple[list[FrameInfo], int]:
    rel = _info_relpath(ref.sha256)
    cached = cache.get(rel)
    if cached is not None:
        try:
            doc = json.loads(cached)
            return [frame_info_from_dict(d) for d in doc["infos"]], int(doc["planar"])
        except (ValueError, KeyError, TypeError):
            pass  # unreadable or older layout: parse again
    ds = _read(ref, header_only=True)
    source = DatasetFrameSource(ds, limits=limits)
    infos = [source.info(0)]
    if source.number_of_frames > 1 and "PerFrameFunctionalGroupsSequence" in ds:
        infos = [source.info(i) for i in range(source.number_of_frames)]
        if all(i == infos[0] for i in infos[1:]):
            infos = infos[:1]
    planar = int(ds.get("PlanarConfiguration", 0) or 0)
    doc = {"infos": [frame_info_to_dict(i) for i in infos], "planar": planar}
    cache.write(rel, json.dumps(doc, separators=(",", ":")).encode())
    return infos, planar


def frame_source(ref: InstanceRef, *, cache: DerivedCache, limits: Limits) -> FrameSource:
    if raw_ok(ref):
        infos_planar = _raw_infos(ref, cache, limits)
        if infos_planar is not None:
            infos, planar = infos_planar
            try:
                return RawFrameSource(path=_ranges(ref), offset=int(ref.pixel_data_offset or 0), info=infos,
                                      big_endian=ref.transfer_syntax_uid == NATIVE_BE,
                                      planar_configuration=planar, limits=limits)
            except UnsupportedImage:
                pass  # e.g. YBR_FULL_422 or 1-bit native data: pydicom below knows how
    if ref.encapsulated and decoded.enabled():
        # Compressed: frames decoded earlier (pre-rendering, another window) are read back, the others
        # decoded once and kept (decoded.py); the header facts come from the frame-facts JSON.
        known = _raw_infos(ref, cache, limits)
        if known is not None and decoded.eligible(known[0][0]):
            return decoded.CachedFrames(sha256=ref.sha256, infos=known[0], cache=cache,
                                        decode=lambda: _decoding_source(ref, cache=cache, limits=limits))
    return _decoding_source(ref, cache=cache, limits=limits)


def _decoding_source(ref: InstanceRef, *, cache: DerivedCache, limits: Limits) -> FrameSource:
    """A source that decodes the original's compressed pixel data."""
    if _encapsulated_ok(ref):
        infos_planar = _raw_infos(ref, cache, limits)
        if infos_planar is not None and EncapsulatedFrameSource.supports(infos_planar[0][0], ref):
            return EncapsulatedFrameSource(ref=ref, infos=infos_planar[0], limits=limits)
    return DatasetFrameSource(_read(ref, header_only=False), limits=limits)


def resolve_window(window: str, info: FrameInfo, pixels: np.ndarray) -> Window | Lut | None:
    """A canonical window id (spec.parse_window) -> what render_array takes (None = the default VOI)."""
    if window == S.DEFAULT_WINDOW or not info.fmt.is_grey:
        return None  # colour images have no VOI: every window renders the same colours
    custom = S.custom_values(window)
    if custom is not None:
        return Window(center=custom[0], width=custom[1], function=custom[2])  # type: ignore[arg-type]
    if window == "auto":
        return auto_window(info, pixels)
    preset = find_preset(info, window)
    if preset is None:
        raise WindowNotApplicable(message_en=f"window {window!r} does not apply to this image",
                                  message_zh="该窗位不适用于此影像")
    if preset.window is not None:
        return preset.window
    return preset.lut if preset.lut is not None else auto_window(info, pixels)


def render_frame_image(source: FrameSource, *, frame: int, window: str, width: int | None) -> np.ndarray:
    pixels, info = source.frame(frame)
    return render_array(pixels=pixels, info=info, window=resolve_window(window, info, pixels), width=width)


@store_down_as_render_error
def render_preview(ref: InstanceRef, frame: int, window: str, width: int | None, fmt: S.Fmt, quality: int,
                   cache_root: str, limits: Limits) -> bytes:
    """One preview, written to the cache; the bytes are returned to the requesting web process.
    A RenderError that is a property of the file is remembered next to where the image would be."""
    cache = DerivedCache(cache_root)
    spec = S.preview_spec(sha256=ref.sha256, frame=frame, window=window, width=width, fmt=fmt, quality=quality)
    try:
        image = render_frame_image(frame_source(ref, cache=cache, limits=limits), frame=frame, window=window,
                                   width=width)
    except RenderError as exc:
        cache.write_error(spec.relpath, {"reason": exc.reason, "en": exc.message_en, "zh": exc.message_zh})
        raise
    data = encode(image, fmt=fmt, quality=quality)
    cache.write_behind(spec.relpath, data)  # the requester gets the bytes now; the store's copy follows
    return data


@store_down_as_render_error
def render_decoded_preview(ref: InstanceRef, frame: int, window: str, width: int | None, fmt: S.Fmt, quality: int,
                           cache_root: str, limits: Limits) -> bytes | None:
    """`render_preview` for the web process's own threads (previews/fastpath.py): only from a frame
    decoded earlier (decoded.py), never running a decoder on the original's bytes; None when the frame
    was never decoded (the render pool does it then)."""
    cache = DerivedCache(cache_root)
    known = _raw_infos(ref, cache, limits)
    if known is None or not decoded.eligible(known[0][0]):
        return None
    source = decoded.CachedFrames(sha256=ref.sha256, infos=known[0], cache=cache, decode=decoded.never_decode)
    try:
        image = render_frame_image(source, frame=frame, window=window, width=width)
    except decoded.NotDecoded:
        return None
    spec = S.preview_spec(sha256=ref.sha256, frame=frame, window=window, width=width, fmt=fmt, quality=quality)
    data = encode(image, fmt=fmt, quality=quality)
    cache.write_behind(spec.relpath, data)
    return data


@store_down_as_render_error
def render_series_chunk(items: list[tuple[InstanceRef, int]], window: str, outputs: list[tuple[int | None, S.Fmt]],
                        tile_width: int, cache_root: str, limits: Limits) -> list[np.ndarray | None]:
    """Pre-rendering: for each (instance, frame) write the missing `outputs` previews and return a
    scrub tile (None where the frame cannot be rendered). The frame is rendered once at the largest
    output width; smaller outputs and the tile are downsampled from it."""
    from backend.rendering.geometry import output_size, resize

    cache = DerivedCache(cache_root)
    tiles: list[np.ndarray | None] = []
    sources: dict[str, FrameSource] = {}
    big = max((w or S.MAX_WIDTH for w, _ in outputs), default=tile_width)
    for ref, frame in items:
        try:
            if ref.sha256 not in sources:
                sources[ref.sha256] = frame_source(ref, cache=cache, limits=limits)
            image = render_frame_image(sources[ref.sha256], frame=frame, window=window, width=max(big, tile_width))
        except RenderError as exc:
            for width, fmt in outputs:
                spec = S.preview_spec(sha256=ref.sha256, frame=frame, window=window, width=width, fmt=fmt)
                cache.write_error(spec.relpath, {"reason": exc.reason, "en": exc.message_en, "zh": exc.message_zh})
            tiles.append(None)
            continue
        h, w = image.shape[:2]
        for width, fmt in outputs:
            spec = S.preview_spec(sha256=ref.sha256, frame=frame, window=window, width=width, fmt=fmt)
            if cache.get(spec.relpath) is None:
                size = output_size(rows=h, columns=w, pixel_aspect=1.0, width=width)
                cache.write(spec.relpath, encode(resize(image, size=size), fmt=fmt, quality=spec.quality))
        tiles.append(resize(image, size=output_size(rows=h, columns=w, pixel_aspect=1.0, width=tile_width)))
    return tiles


@store_down_as_render_error
def pack_series_strips(tiles: list[np.ndarray | None], key: str, cache_root: str) -> dict[str, Any]:
    """Scrub strips from the tiles (a black tile where a frame failed); writes sheets, then the layout
    last, so a layout on disk always means its sheets are complete."""
    cache = DerivedCache(cache_root)
    shape = next((t.shape for t in tiles if t is not None), (S.SCRUB_WIDTH, S.SCRUB_WIDTH))
    frames = [t if t is not None else np.zeros(shape, dtype=np.uint8) for t in tiles]
    strips = pack_scrub_strips(frames=frames, quality=70, fmt="jpeg")
    for n, sheet in enumerate(strips.sheets):
        cache.write(S.scrub_relpath(key, f"sheet-{n}.jpg"), sheet)
    layout = dict(strips.layout)
    layout["failed_frames"] = [i for i, t in enumerate(tiles) if t is None]
    layout["total_bytes"] = strips.total_bytes
    cache.write(S.scrub_relpath(key, "layout.json"), json.dumps(layout, separators=(",", ":")).encode())
    return layout


def warm() -> bool:
    """Imported modules and first-call caches are ready (called once when a worker starts)."""
    encode(np.zeros((16, 16), dtype=np.uint8), fmt="jpeg", quality=80)
    return True
