"""WADO-RS frames (PS3.18 §10.4.1.1.2): the pixel values pydicom decodes, for native, compressed,
big-endian and multi-frame originals; the original compressed bytes when the Accept header allows them;
400 for frame numbers an instance does not have, 404 for what a principal may not see, 406 for media
types we cannot answer; share sessions read frames whether or not downloads are allowed; audited."""

from __future__ import annotations

import json
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.encaps import generate_frames
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.db import session_scope
from backend.dicomweb.frames import MEDIA_OF_TS, negotiate
from backend.previews import views
from tests.conftest import DICOM
from tests.ingest.test_stow import failures, hospital, stow
from tests.sharing.conftest import browser
from tests.sharing.world import CT_3SLICE, build, token_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

NATIVE = CT_3SLICE[1]  # Implicit VR Little Endian, 16-bit CT
MULTI = DICOM / "pydicom-data" / "emri_small.dcm"  # 10 frames, 16 of 12 bits, Explicit VR LE
MULTI_J2K = DICOM / "pydicom-data" / "emri_small_jpeg_2k_lossless.dcm"  # the same 10 frames, JPEG 2000
RLE = DICOM / "pydicom" / "MR_small_RLE.dcm"
BIG_ENDIAN = DICOM / "pydicom" / "MR_small_bigendian.dcm"
JPEG_LS = DICOM / "dcm_qa_ts" / "7.dcm"
YBR_CINE = DICOM / "pydicom" / "examples_ybr_color.dcm"  # 30 frames, JPEG baseline YBR_FULL_422
DEFLATE = DICOM / "pydicom" / "image_dfl.dcm"
SEG = DICOM / "dcmqi" / "liver.dcm"  # 1-bit segmentation, 3 frames
OCTET_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def parts_of(response_body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part."""
    msg = BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + response_body)
    out = []
    for part in msg.get_payload():
        assert isinstance(part, Message)
        out.append((str(part["Content-Type"]), bytes(part.get_payload(decode=True))))
    return out


def url_of(path: Path, frames: str) -> str:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return (f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
            f"/frames/{frames}")


def decoded(path: Path) -> np.ndarray:
    """pydicom's pixel values, one array per frame (the reference the endpoint must match)."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return arr if frames > 1 else arr[None, ...]


def as_array(data: bytes, reference: np.ndarray) -> np.ndarray:
    dtype = reference.dtype.newbyteorder("<")
    return np.frombuffer(data, dtype=dtype).reshape(reference.shape[1:])


Keys = dict[Path, dict[str, str]]  # fixture file -> the Authorization header of the hospital that sent it


@pytest.fixture
def keys(client: TestClient, engine: Engine) -> Keys:
    """The fixtures from two hospitals: some share SOP Instance UIDs (one image in several encodings)."""
    out = {}
    for n, group in enumerate([[NATIVE, MULTI, RLE, JPEG_LS, YBR_CINE, DEFLATE, SEG], [MULTI_J2K, BIG_ENDIAN]]):
        issued = hospital(engine, f"医院{n}").api_key
        status, body = stow(client, issued, [path.read_bytes() for path in group])
        assert status == 200, failures(body)
        out.update({path: {"Authorization": f"Bearer {issued}"} for path in group})
    return out


@pytest.fixture
def multi(client: TestClient, engine: Engine) -> dict[str, str]:
    """Only the 10-frame MR (the tests of refusals need nothing else)."""
    issued = hospital(engine).api_key
    assert stow(client, issued, [MULTI.read_bytes()])[0] == 200
    return {"Authorization": f"Bearer {issued}"}


@pytest.mark.parametrize("path", [NATIVE, RLE, BIG_ENDIAN, JPEG_LS, DEFLATE], ids=lambda p: p.name)
def test_a_frame_is_the_pixel_values_pydicom_decodes(client: TestClient, keys: Keys, path: Path) -> None:
    res = client.get(url_of(path, "1"), headers=keys[path])
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith('multipart/related; type="application/octet-stream"')
    assert res.headers["cache-control"] == "no-store"
    [(kind, data)] = parts_of(res.content, res.headers["content-type"])
    assert kind == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    reference = decoded(path)
    assert np.array_equal(as_array(data, reference), reference[0])


def test_multi_frame_lists_in_the_order_asked_native_and_compressed(client: TestClient, keys: Keys) -> None:
    reference = decoded(MULTI)
    for path in (MULTI, MULTI_J2K):
        res = client.get(url_of(path, "3,1,10"), headers=keys[path])
        assert res.status_code == 200, res.text
        parts = parts_of(res.content, res.headers["content-type"])
        assert [as_array(d, reference).tolist() for _, d in parts] == [reference[i].tolist() for i in (2, 0, 9)]


def test_colour_cine_frames_are_rgb_as_pydicom_gives_them(client: TestClient, keys: Keys) -> None:
    res = client.get(url_of(YBR_CINE, "2"), headers=keys[YBR_CINE])
    [(_, data)] = parts_of(res.content, res.headers["content-type"])
    reference = decoded(YBR_CINE)
    assert np.abs(as_array(data, reference).astype(int) - reference[1].astype(int)).max() <= 1  # same libjpeg


def test_one_bit_frames_stay_packed(client: TestClient, keys: Keys) -> None:
    res = client.get(url_of(SEG, "2"), headers=keys[SEG])
    [(_, data)] = parts_of(res.content, res.headers["content-type"])
    reference = decoded(SEG)[1]
    assert np.array_equal(np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[:reference.size],
                          reference.ravel())


def test_original_compressed_bytes_when_the_accept_header_allows_them(client: TestClient, keys: Keys) -> None:
    ds = pydicom.dcmread(MULTI_J2K)
    originals = list(generate_frames(ds.PixelData, number_of_frames=10))
    res = client.get(url_of(MULTI_J2K, "4,5"), headers={**keys[MULTI_J2K], "Accept": OCTET_ANY})
    parts = parts_of(res.content, res.headers["content-type"])
    assert [d for _, d in parts] == originals[3:5]
    assert parts[0][0] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90"
    own = client.get(url_of(RLE, "1"), headers={**keys[RLE], "Accept": 'multipart/related; type="image/dicom-rle"'})
    [(kind, data)] = parts_of(own.content, own.headers["content-type"])
    assert kind == "image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5"
    assert data == next(generate_frames(pydicom.dcmread(RLE).PixelData, number_of_frames=1))
    # a native original asked for with transfer-syntax=* comes uncompressed
    native = client.get(url_of(NATIVE, "1"), headers={**keys[NATIVE], "Accept": OCTET_ANY})
    assert parts_of(native.content, native.headers["content-type"])[0][0].endswith("1.2.840.10008.1.2.1")


@pytest.mark.parametrize("frames", ["0", "11", "-1", "1,,2", "abc", "1.5", ",".join(["1"] * 1001)],
                         ids=["zero", "beyond", "negative", "empty", "text", "decimal", "1001-frames"])
def test_bad_frame_numbers_are_400_problem_json(client: TestClient, multi: dict[str, str], frames: str) -> None:
    res = client.get(url_of(MULTI, frames), headers=multi)
    assert res.status_code == 400, res.text
    assert res.headers["content-type"] == "application/problem+json"
    assert res.json()["type"].endswith("/bad-frames") and res.json()["message"]["zh"]


def test_unknown_foreign_and_anonymous(client: TestClient, engine: Engine, multi: dict[str, str]) -> None:
    auth = multi
    ds = pydicom.dcmread(MULTI, stop_before_pixels=True)
    base = f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances"
    for url in (f"/dicomweb/studies/1.2.3/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1",
                f"{base}/9.9.9/frames/1", url_of(CT_3SLICE[0], "1")):  # CT_3SLICE[0] was never uploaded
        res = client.get(url, headers=auth)
        assert res.status_code == 404 and res.headers["content-type"] == "application/problem+json", url
    other = {"Authorization": f"Bearer {hospital(engine, '外院').api_key}"}
    assert client.get(url_of(MULTI, "1"), headers=other).status_code == 404
    assert client.get(url_of(MULTI, "1")).status_code == 401


BIG_ENDIAN_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.2'


@pytest.mark.parametrize("accept", ["image/png", 'multipart/related; type="application/dicom"', BIG_ENDIAN_FRAMES])
def test_unanswerable_media_types_are_406(client: TestClient, multi: dict[str, str], accept: str) -> None:
    res = client.get(url_of(MULTI, "1"), headers={**multi, "Accept": accept})
    assert res.status_code == 406, res.text


def test_a_compressed_type_for_a_native_original_is_406(client: TestClient, multi: dict[str, str]) -> None:
    res = client.get(url_of(MULTI, "1"), headers={**multi, "Accept": 'multipart/related; type="image/jp2"'})
    assert res.status_code == 406


def test_negotiation_table() -> None:
    assert negotiate(None).uncompressed and not negotiate(None).original_types
    assert negotiate("*/*").uncompressed
    assert negotiate(OCTET_ANY).original_ok("1.2.840.10008.1.2.4.80")
    assert not negotiate('multipart/related; type="application/octet-stream"').original_ok("1.2.840.10008.1.2.5")
    jpeg = negotiate('multipart/related; type="image/jpeg", multipart/related; type="application/octet-stream";q=0')
    assert not jpeg.uncompressed and jpeg.original_ok("1.2.840.10008.1.2.4.50")
    assert set(MEDIA_OF_TS.values()) == {"image/jpeg", "image/jls", "image/jp2", "image/jpx", "image/jphc",
                                         "image/dicom-rle"}


@pytest.mark.parametrize("allow_download", [False, True])
def test_share_session_reads_frames_of_its_studies_only(client: TestClient, engine: Engine, settings: object,
                                                       allow_download: bool) -> None:
    world = build(client, engine, settings)  # type: ignore[arg-type]
    made = world.create(study_ids=[world.studies["a"]], allow_download=allow_download)
    views.forget()
    with browser(client.app) as doctor:
        assert doctor.post(f"/s/{token_of(made['url'])}/session", json={}).status_code == 200
        res = doctor.get(url_of(CT_3SLICE[0], "1"))
        assert res.status_code == 200, res.text
        [(_, data)] = parts_of(res.content, res.headers["content-type"])
        reference = decoded(CT_3SLICE[0])
        assert np.array_equal(as_array(data, reference), reference[0])
        # the same patient's study b (not in this share) and another patient's study: 404, like unknown UIDs
        for key in ("b", "other"):
            with session_scope(engine, readonly=True) as s:
                from backend.studies.models import Instance, Series, Study
                inst, series = s.exec(select(Instance, Series).join(Series, col(Instance.series_id) == col(Series.id))
                                      .where(col(Instance.study_id) == world.studies[key])).first()  # type: ignore[misc]
                study_uid = s.get(Study, world.studies[key]).study_instance_uid  # type: ignore[union-attr]
            url = (f"/dicomweb/studies/{study_uid}/series/{series.series_instance_uid}/instances/"
                   f"{inst.sop_instance_uid}/frames/1")
            assert doctor.get(url).status_code == 404, key
        doctor.get(url_of(CT_3SLICE[1], "1"))  # a second read of the series within the hour: no second event
    with session_scope(engine, readonly=True) as s:
        events = s.exec(select(AuditEvent).where(col(AuditEvent.event_type) == "series.view",
                                                 col(AuditEvent.actor_kind) == "share")).all()
    assert len(events) == 1
    assert events[0].via_share_id == made["id"] and events[0].person_id == world.person_id
    assert json.loads(str(events[0].detail)) == {"study_id": world.studies["a"], "via": "dicomweb-frames"}


def test_uncompressed_frames_and_metadata_are_gzipped_for_clients_that_ask(client: TestClient, keys: Keys) -> None:
    url = url_of(NATIVE, "1")
    plain = client.get(url, headers={**keys[NATIVE], "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = client.get(url, headers={**keys[NATIVE], "Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    same = [parts_of(r.content, r.headers["content-type"]) for r in (plain, packed)]
    assert same[0] == same[1]  # httpx decodes the gzip: the parts are byte-identical
    assert int(packed.num_bytes_downloaded) < len(plain.content) * 0.8
    meta = client.get(url.split("/frames/")[0] + "/metadata", headers={**keys[NATIVE], "Accept-Encoding": "gzip"})
    assert meta.headers["content-encoding"] == "gzip"
    # an original JPEG 2000 frame does not shrink: sent as it is
    j2k = client.get(url_of(MULTI_J2K, "1"),
                     headers={**keys[MULTI_J2K], "Accept": OCTET_ANY, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in j2k.headers
