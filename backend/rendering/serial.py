"""FrameInfo <-> JSON-able dict, so ingest can record what the raw fast path needs.

With the pixel data's offset (from ingest) and this dict stored next to an instance, a preview is
rendered without parsing the DICOM header again (`frames.RawFrameSource`). Binary tables (LUTs,
palettes) travel base64-encoded. `version` guards against reading an older layout.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from .model import FrameInfo, GreyParams, Lut, Palette, PixelFormat, Window

VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _lut_to(lut: Lut | None) -> dict[str, Any] | None:
    if lut is None:
        return None
    return {"first_mapped": lut.first_mapped, "bits": lut.bits, "data": _b64(lut.data)}


def _lut_from(d: dict[str, Any] | None) -> Lut | None:
    if d is None:
        return None
    return Lut(first_mapped=int(d["first_mapped"]), bits=int(d["bits"]), data=base64.b64decode(d["data"]))


def frame_info_to_dict(info: FrameInfo) -> dict[str, Any]:
    g = info.grey
    return {
        "version": VERSION,
        "fmt": asdict(info.fmt),
        "grey": {
            "slope": g.slope,
            "intercept": g.intercept,
            "modality_lut": _lut_to(g.modality_lut),
            "windows": [[w.center, w.width, w.function] for w in g.windows],
            "window_explanations": list(g.window_explanations),
            "voi_lut": _lut_to(g.voi_lut),
            "invert": g.invert,
            "padding": list(g.padding) if g.padding is not None else None,
        },
        "palette": (
            {"first_mapped": info.palette.first_mapped, "rgb": _b64(info.palette.rgb)} if info.palette else None
        ),
        "pixel_aspect": info.pixel_aspect,
        "modality": info.modality,
    }


def frame_info_from_dict(d: dict[str, Any]) -> FrameInfo:
    if d.get("version") != VERSION:
        raise ValueError(f"unsupported frame info version {d.get('version')!r}")
    g = d["grey"]
    padding = g.get("padding")
    grey = GreyParams(
        slope=float(g["slope"]),
        intercept=float(g["intercept"]),
        modality_lut=_lut_from(g.get("modality_lut")),
        windows=tuple(Window(float(c), float(w), f) for c, w, f in g.get("windows", [])),
        window_explanations=tuple(g.get("window_explanations", [])),
        voi_lut=_lut_from(g.get("voi_lut")),
        invert=bool(g["invert"]),
        padding=(int(padding[0]), int(padding[1])) if padding else None,
    )
    p = d.get("palette")
    palette = Palette(first_mapped=int(p["first_mapped"]), rgb=base64.b64decode(p["rgb"])) if p else None
    return FrameInfo(
        fmt=PixelFormat(**d["fmt"]),
        grey=grey,
        palette=palette,
        pixel_aspect=float(d["pixel_aspect"]),
        modality=str(d["modality"]),
    )
