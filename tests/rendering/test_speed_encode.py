"""JPEG through imagecodecs (libjpeg-turbo) must give Pillow's bytes exactly, and Pillow must take over
whenever the binding is missing, refuses the input or fails."""

from __future__ import annotations

import importlib
import io
import sys

import numpy as np
import pytest
from PIL import Image

from backend.rendering.encode import encode

# The package re-exports the function `encode`, which hides the submodule of the same name.
enc = importlib.import_module("backend.rendering.encode")

needs_turbo = pytest.mark.skipif(enc._turbo_encode is None, reason="imagecodecs JPEG8 not available")


def _pillow_jpeg(image: np.ndarray, quality: int, optimize: bool = False) -> bytes:
    """What encode() produced before the fast path (Pillow, baseline, 4:2:0 below q90 for RGB)."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    options: dict[str, object] = {"quality": quality, "optimize": optimize, "progressive": False}
    if pil.mode == "RGB":
        options["subsampling"] = "4:4:4" if quality >= 90 else "4:2:0"
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", **options)
    return buf.getvalue()


def _ct_like(rows: int = 512, columns: int = 512) -> np.ndarray:
    """A smooth disc with noise and hard edges: JPEG sees both flat areas and detail."""
    y, x = np.mgrid[0:rows, 0:columns]
    disc = ((y - rows / 2) ** 2 + (x - columns / 2) ** 2 < (0.4 * min(rows, columns)) ** 2) * 120.0
    noise = np.random.default_rng(3).normal(0, 12, (rows, columns))
    return np.clip(disc + 40 + noise + (x % 64 < 2) * 90, 0, 255).astype(np.uint8)


def _us_like(rows: int = 384, columns: int = 512) -> np.ndarray:
    grey = _ct_like(rows, columns)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    rgb[100:160, 200:260] = (200, 30, 40)  # a colour-Doppler blob
    rgb[180:220, 220:300] = (20, 60, 210)
    return rgb


@needs_turbo
@pytest.mark.parametrize("quality", [1, 50, 75, 85, 89, 90, 95, 100])
@pytest.mark.parametrize("optimize", [False, True])
def test_turbo_jpeg_is_byte_identical_to_pillow(quality: int, optimize: bool) -> None:
    for image in (_ct_like(), _us_like()):
        assert encode(image, fmt="jpeg", quality=quality, optimize=optimize) == _pillow_jpeg(image, quality, optimize)


@needs_turbo
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (7, 13), (1, 600), (97, 131, 3), (600, 1, 3), (17, 9, 3)])
def test_turbo_jpeg_odd_sizes_match_pillow(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(len(shape) + shape[0]).integers(0, 256, size=shape, dtype=np.uint8)
    for quality in (70, 92):
        assert encode(image, fmt="jpeg", quality=quality) == _pillow_jpeg(image, quality)


@needs_turbo
def test_non_contiguous_input_matches_pillow() -> None:
    """Views (a crop, a transposed image, a channel-reversed RGB) are made contiguous first."""
    grey, rgb = _ct_like(), _us_like()
    for view in (grey[10:300:2, 5:400], grey.T, rgb[:, ::-1], rgb[..., ::-1]):
        assert encode(view, fmt="jpeg", quality=85) == _pillow_jpeg(view, 85)


def test_fallback_to_pillow_when_binding_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enc, "_turbo_encode", None)
    image = _us_like()
    out = encode(image, fmt="jpeg", quality=85)
    assert out == _pillow_jpeg(image, 85)
    assert Image.open(io.BytesIO(out)).size == (512, 384)


def test_fallback_to_pillow_when_binding_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        raise RuntimeError("codec quirk")

    monkeypatch.setattr(enc, "_turbo_encode", broken)
    image = _ct_like()
    assert encode(image, fmt="jpeg", quality=85) == _pillow_jpeg(image, 85)
    assert calls == [1]


def test_loader_returns_none_without_imagecodecs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # makes `import imagecodecs` raise ImportError
    assert enc._load_turbo() is None


def test_only_renderer_shapes_take_the_fast_path() -> None:
    assert enc._turbo_fits(np.zeros((4, 4), np.uint8))
    assert enc._turbo_fits(np.zeros((4, 4, 3), np.uint8))
    assert not enc._turbo_fits(np.zeros((4, 4, 4), np.uint8))  # RGBA: Pillow's behaviour (it refuses)
    assert not enc._turbo_fits(np.zeros((4, 4, 1), np.uint8))
    assert not enc._turbo_fits(np.zeros((4, 4), np.uint16))
    assert not enc._turbo_fits(np.zeros((0, 4), np.uint8))


def test_webp_and_argument_checks_unchanged() -> None:
    image = _ct_like(64, 64)
    assert encode(image, fmt="webp", quality=80)[:4] == b"RIFF"
    with pytest.raises(ValueError, match="quality"):
        encode(image, fmt="jpeg", quality=0)
    with pytest.raises(ValueError, match="unknown format"):
        encode(image, fmt="png", quality=80)  # type: ignore[arg-type]
