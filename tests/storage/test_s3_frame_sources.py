"""Every kind of fixture decodes the same from S3 as from the local directory: the raw fast path (ranged reads),
the fragments path and pydicom reading through the store's reader (deferred values such as a palette's
LUT data included), frame 0 and the last frame."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from backend.dicom.errors import DicomRejected
from backend.dicom.parse import parse_instance
from backend.previews import jobs
from backend.previews.cache import DerivedCache
from backend.rendering import Limits, RenderError
from backend.storage.keys import original_key
from backend.storage.service import open_store
from tests.previews.test_frame_sources import FILES


def _ref(path: Path, store: str) -> jobs.InstanceRef | None:
    try:
        parsed = parse_instance(path=path)
    except DicomRejected:
        return None
    enc, nat = parsed.encapsulated_pixels, parsed.native_pixels
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return jobs.InstanceRef(store=store, key=original_key(sha), sha256=sha,
                            transfer_syntax_uid=parsed.transfer_syntax_uid,
                            pixel_data_offset=nat.offset if nat else (enc.offset if enc else None),
                            encapsulated=parsed.is_encapsulated, fragments=tuple(enc.fragments) if enc else None)


def _frames(ref: jobs.InstanceRef, cache: DerivedCache) -> list[np.ndarray] | str:
    jobs._INFOS.clear()  # no facts carried over from the other store's run
    try:
        source = jobs.frame_source(ref, cache=cache, limits=Limits())
        last = source.number_of_frames - 1
        return [jobs.render_frame_image(source, frame=f, window="default", width=None) for f in sorted({0, last})]
    except RenderError as exc:
        return exc.reason


def _variety() -> list[Path]:
    """One fixture per (transfer syntax, photometric interpretation, multi-frame or not): every reading
    path at a fraction of the time."""
    import pydicom

    seen: dict[tuple[str, str, bool], Path] = {}
    for path in FILES:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
            kind = (ts, str(ds.get("PhotometricInterpretation", "")), int(ds.get("NumberOfFrames", 1) or 1) > 1)
        except Exception:  # noqa: BLE001 - the malformed fixtures: keep them, each is its own kind
            kind = (path.name, "", False)
        seen.setdefault(kind, path)
    return list(seen.values())


@pytest.mark.filterwarnings("ignore")
def test_every_kind_of_fixture_renders_the_same_from_s3(tmp_path: Path, s3_url: str) -> None:
    local, s3 = open_store(str(tmp_path / "local" / "blobs")), open_store(s3_url + "/blobs")
    compared = 0
    for path in _variety():
        data = path.read_bytes()
        key = original_key(hashlib.sha256(data).hexdigest())
        ref_local, ref_s3 = _ref(path, local.locator), _ref(path, s3.locator)
        if ref_local is None or ref_s3 is None:
            continue
        local.put_bytes(key=key, data=data)
        s3.put_bytes(key=key, data=data)
        ours = _frames(ref_s3, DerivedCache(open_store(s3_url + "/derived")))
        theirs = _frames(ref_local, DerivedCache(tmp_path / "local" / "derived"))
        if isinstance(theirs, str):
            assert ours == theirs, path
            continue
        assert not isinstance(ours, str), (path, ours)
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True)), path
        compared += 1
    assert compared >= 20
