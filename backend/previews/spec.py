"""What a preview is, as a value: instance content + frame + window + width + format + renderer version.

Pure (no I/O). The same spec always names the same bytes, so a spec is both the disk cache key and
the strong ETag (RFC 9110 §8.8.3): the original's sha256 pins the input, RENDERER_VERSION pins the
code. Widths come from a small fixed set so that every viewer shares the same cached files.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Literal

from backend.rendering import RENDERER_VERSION
from backend.rendering.presets import CT_PRESETS

Fmt = Literal["jpeg", "webp"]
EXTENSIONS: dict[str, Fmt] = {"jpg": "jpeg", "webp": "webp"}
EXT_OF: dict[Fmt, str] = {"jpeg": "jpg", "webp": "webp"}
MEDIA: dict[Fmt, str] = {"jpeg": "image/jpeg", "webp": "image/webp"}

WIDTHS = (128, 256, 512, 1024)  # plus "full": the original width, capped
FULL = "full"
MAX_WIDTH = 2048  # "original" is capped here: beyond it a phone gains nothing but bytes
THUMB_WIDTH = 128
SCRUB_WIDTH = 128
DEFAULT_WIDTH = 512
QUALITY = {"jpeg": 85, "webp": 80}
DEFAULT_WINDOW = "default"  # the file's own VOI (LUT or first window), else the automatic window
STANDARD_WINDOWS = tuple(p.id for p in CT_PRESETS)
_FILE_WINDOW = re.compile(r"^file-(\d{1,2})$")
_CUSTOM = re.compile(r"^c(-?\d+(?:\.\d+)?)w(\d+(?:\.\d+)?)(?:-(le|sig))?$")
# VOI LUT Function (PS3.3 C.11.2.1.3) of a custom window: LINEAR unless suffixed.
_FUNCTIONS = {None: "LINEAR", "le": "LINEAR_EXACT", "sig": "SIGMOID"}
_SUFFIX = {"LINEAR": "", "LINEAR_EXACT": "-le", "SIGMOID": "-sig"}
SPEC_VERSION = "1"  # bump if the key layout below changes


class SpecError(ValueError):
    """A URL segment that names no preview (unknown window, width, format)."""


def parse_width(value: str) -> int | None:
    """`128`..`1024` or `full` (None: the original width, capped at MAX_WIDTH)."""
    if value == FULL:
        return None
    if value.isascii() and value.isdigit() and int(value) in WIDTHS:  # str.isdigit() is true for "²" too
        return int(value)
    raise SpecError(f"width must be one of {', '.join(map(str, WIDTHS))} or {FULL}")


def width_segment(width: int | None) -> str:
    return FULL if width is None else str(width)


def parse_window(value: str) -> str:
    """Canonical window id: `default`, `auto`, a CT preset, `file-N`, or `c<center>w<width>` (custom)."""
    if value in (DEFAULT_WINDOW, "auto") or value in STANDARD_WINDOWS or _FILE_WINDOW.match(value):
        return value
    m = _CUSTOM.match(value)
    if m:
        center, width = float(m.group(1)), float(m.group(2))
        if not (math.isfinite(center) and math.isfinite(width)) or width <= 0 or abs(center) > 1e6 or width > 1e6:
            raise SpecError("custom window needs width >= 1 and |center| <= 1e6")
        return custom_window(center, width, _FUNCTIONS[m.group(3)])
    raise SpecError("unknown window (default, auto, lung, mediastinum, bone, brain, abdomen, file-N or c<C>w<W>)")


def custom_window(center: float, width: float, function: str = "LINEAR") -> str:
    return f"c{center:g}w{width:g}{_SUFFIX[function]}"


def custom_values(window: str) -> tuple[float, float, str] | None:
    m = _CUSTOM.match(window)
    return (float(m.group(1)), float(m.group(2)), _FUNCTIONS[m.group(3)]) if m else None


def parse_ext(value: str) -> Fmt:
    fmt = EXTENSIONS.get(value)
    if fmt is None:
        raise SpecError("format must be jpg or webp")
    return fmt


@dataclass(frozen=True, slots=True)
class PreviewSpec:
    sha256: str  # of the original DICOM file
    frame: int  # 0-based
    window: str  # canonical window id
    width: int | None  # None = original (capped)
    fmt: Fmt
    quality: int

    @property
    def digest(self) -> str:
        raw = "|".join(
            (SPEC_VERSION, RENDERER_VERSION, self.sha256, str(self.frame), self.window,
             width_segment(self.width), self.fmt, str(self.quality))
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    @property
    def relpath(self) -> str:
        """Cache path below the derived root; the version directory invalidates old renders wholesale."""
        name = f"{self.frame}-{self.window}-{width_segment(self.width)}-q{self.quality}.{EXT_OF[self.fmt]}"
        return f"r{RENDERER_VERSION}/p/{self.sha256[:2]}/{self.sha256}/{name}"


def preview_spec(*, sha256: str, frame: int, window: str, width: int | None, fmt: Fmt,
                 quality: int | None = None) -> PreviewSpec:
    return PreviewSpec(sha256=sha256, frame=frame, window=window, width=width, fmt=fmt,
                       quality=quality if quality is not None else QUALITY[fmt])


def etag_listed(header: str, etag: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): weak comparison, a list of tags, or `*`."""
    return header.strip() == "*" or etag in (t.strip().removeprefix("W/") for t in header.split(","))


def content_tag(sha256: str) -> str:
    """The `v=` query value of preview URLs: changes when the original or the renderer changes."""
    return f"{sha256[:16]}.{RENDERER_VERSION}"


def scrub_key(*, members: list[tuple[str, int]], window: str, tile_width: int) -> str:
    """Scrub strips of a series are content-addressed by the ordered (sha256, frames) of its instances."""
    h = hashlib.sha256(f"{SPEC_VERSION}|{RENDERER_VERSION}|{window}|{tile_width}".encode())
    for sha, frames in members:
        h.update(f"|{sha}:{frames}".encode())
    return h.hexdigest()[:32]


def scrub_relpath(key: str, name: str) -> str:
    return f"r{RENDERER_VERSION}/scrub/{key[:2]}/{key}/{name}"
