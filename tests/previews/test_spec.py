"""Preview specs and URLs: a fixed set of widths and windows, content-addressed keys that change
exactly when the original, the frame, the window, the width, the format or the renderer changes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.previews import spec as S
from backend.previews import urls
from backend.previews.cache import DerivedCache
from backend.rendering import RENDERER_VERSION
from backend.studies.models import Instance


def test_widths_windows_and_formats_are_a_closed_set() -> None:
    assert [S.parse_width(w) for w in ("128", "256", "512", "1024", "full")] == [128, 256, 512, 1024, None]
    for bad in ("500", "0", "2048", "-1", "", "512px"):
        with pytest.raises(S.SpecError):
            S.parse_width(bad)
    assert S.parse_window("lung") == "lung" and S.parse_window("file-1") == "file-1"
    assert S.parse_window("c40w400") == "c40w400"
    assert S.parse_window("c-600.0w1500") == "c-600w1500"  # canonical: one spelling, one cache entry
    assert S.parse_window("c40w400-sig") == "c40w400-sig"
    assert S.custom_values("c40w400-le") == (40.0, 400.0, "LINEAR_EXACT")
    for bad in ("Lung", "c40", "c40w0", "c1e9w5", "../etc", "file-x", "c40w400-cubic"):
        with pytest.raises(S.SpecError):
            S.parse_window(bad)
    assert S.parse_ext("jpg") == "jpeg" and S.parse_ext("webp") == "webp"
    with pytest.raises(S.SpecError):
        S.parse_ext("png")


def test_every_part_of_a_spec_changes_its_key() -> None:
    base = S.preview_spec(sha256="a" * 64, frame=0, window="lung", width=512, fmt="jpeg")
    variants = [replace(base, sha256="b" * 64), replace(base, frame=1), replace(base, window="bone"),
                replace(base, width=256), replace(base, width=None), replace(base, fmt="webp"),
                replace(base, quality=60)]
    digests = {base.digest, *(v.digest for v in variants)}
    assert len(digests) == 1 + len(variants)
    paths = {base.relpath, *(v.relpath for v in variants)}
    assert len(paths) == 1 + len(variants)
    assert base.etag == f'"{base.digest}"' and f"r{RENDERER_VERSION}/" in base.relpath
    assert S.preview_spec(sha256="a" * 64, frame=0, window="lung", width=512, fmt="jpeg") == base


def test_scrub_key_follows_the_instances_in_order() -> None:
    a = S.scrub_key(members=[("a" * 64, 1), ("b" * 64, 1)], window="default", tile_width=128)
    assert a == S.scrub_key(members=[("a" * 64, 1), ("b" * 64, 1)], window="default", tile_width=128)
    assert a != S.scrub_key(members=[("b" * 64, 1), ("a" * 64, 1)], window="default", tile_width=128)
    assert a != S.scrub_key(members=[("a" * 64, 1), ("b" * 64, 1), ("c" * 64, 1)], window="default",
                            tile_width=128)
    assert a != S.scrub_key(members=[("a" * 64, 1), ("b" * 64, 1)], window="lung", tile_width=128)


def test_urls_name_the_content() -> None:
    inst = Instance(id="i" * 32, institution_id="x", study_id="s", series_id="se", sop_instance_uid="1.2",
                    sop_class_uid="1.2", kind="image", transfer_syntax_uid="1.2.840.10008.1.2.1", blob_key="k",
                    size=1, sha256="f" * 64)
    url = urls.preview_url(person_id="p" * 32, instance=inst, frame=3, window="bone", width=256, fmt="webp")
    assert url == f"/api/v1/people/{'p' * 32}/previews/{'i' * 32}/3/bone/256.webp?v={'f' * 16}.{RENDERER_VERSION}"
    template = urls.preview_template(person_id="p" * 32, instance=inst, frame=3)
    assert template.format(window="bone", width="256", ext="webp") == url


def test_cache_rejects_paths_outside_and_short_files(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    cache = DerivedCache(tmp_path)
    for bad in ("/etc/passwd", "../x.jpg", "a/../../x.jpg"):
        with pytest.raises(ValueError):
            cache.key(bad)
    cache.write("a/b.jpg", b"\xff\xd8 jpeg data \xff\xd9")
    assert cache.get("a/b.jpg") is not None
    (tmp_path / "a/b.jpg").write_bytes(b"\xff\xd8 jpeg da")  # cut short
    assert cache.get("a/b.jpg") is None
    cache.write("a/c.webp", b"RIFF" + (8).to_bytes(4, "little") + b"WEBPVP8 ")
    assert cache.get("a/c.webp") is not None
    cache.write("a/d.webp", b"RIFF" + (99).to_bytes(4, "little") + b"WEBPVP8 ")
    assert cache.get("a/d.webp") is None
