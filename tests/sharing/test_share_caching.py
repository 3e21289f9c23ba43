"""A doctor's images are never kept by the doctor's browser (issue 15, item 6): a share session's
previews, scrub sheets and DICOMweb rendered images answer ``Cache-Control: no-store`` — on the
preview route and on the preview hot path alike — while a patient's own content-addressed previews
stay ``private, immutable`` and a hospital's rendered images keep their hour."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from backend.previews import views
from tests.sharing.world import ShareWorld, token_of

IMMUTABLE = "private, max-age=31536000, immutable"


def _open(doctor: TestClient, made: dict[str, Any]) -> None:
    res = doctor.post(f"/s/{token_of(made['url'])}/session", json={})
    assert res.status_code == 200, res.text


def _preview_urls(client: TestClient, world: ShareWorld, headers: dict[str, str] | None = None) -> list[str]:
    detail = client.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}", headers=headers or {})
    assert detail.status_code == 200, detail.text
    return [u for s in detail.json()["series"] for u in s["previews"].values() if isinstance(u, str)
            and u.startswith("/api/v1/people/")]


def test_share_session_previews_are_no_store_on_the_hot_path_and_the_route(
    world: ShareWorld, doctor: TestClient
) -> None:
    views.forget()
    _open(doctor, world.create())
    urls = _preview_urls(doctor, world)
    assert urls
    first = doctor.get(urls[0])  # a miss: the hot path renders it
    again = doctor.get(urls[0])  # a hit: the hot path serves the cached file
    routed = doctor.get(urls[0] + ("&" if "?" in urls[0] else "?") + "unknown=1")  # the ordinary route
    for res in (first, again, routed):
        assert res.status_code == 200 and res.headers["content-type"].startswith("image/")
        assert res.headers["cache-control"] == "no-store", res.headers["cache-control"]
    # the hot path answers exactly the route's headers (but the per-request id)
    for name in ("etag", "cache-control", "content-type", "content-length"):
        assert again.headers[name] == routed.headers[name], name
    revalidated = doctor.get(urls[0], headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.headers["cache-control"] == "no-store"


def test_the_patients_own_previews_stay_immutable(world: ShareWorld, client: TestClient) -> None:
    owner = world.owner_headers()
    url = _preview_urls(client, world, owner)[0]
    hot, routed = client.get(url, headers=owner), client.get(url + "&unknown=1", headers=owner)
    assert hot.headers["cache-control"] == routed.headers["cache-control"] == IMMUTABLE


def test_share_session_scrub_strips_are_no_store(world: ShareWorld, doctor: TestClient) -> None:
    _open(doctor, world.create())
    detail = doctor.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}").json()
    series_id = detail["series"][0]["id"]
    layout = doctor.get(f"/api/v1/people/{world.person_id}/series/{series_id}/scrub")
    assert layout.status_code == 200 and layout.headers["cache-control"] == "no-store"
    sheet = doctor.get(layout.json()["sheet_urls"][0])
    assert sheet.status_code == 200 and sheet.headers["cache-control"] == "no-store"


def test_share_session_dicomweb_rendered_is_no_store_a_hospitals_keeps_its_hour(
    world: ShareWorld, doctor: TestClient
) -> None:
    _open(doctor, world.create())
    uid = world.uids["a"]
    for path in (f"/dicomweb/studies/{uid}/thumbnail", f"/dicomweb/studies/{uid}/rendered"):
        res = doctor.get(path)
        assert res.status_code == 200 and res.headers["cache-control"] == "no-store", (path, res.headers)
        hospital = world.client.get(path, headers=world.inst.headers)
        assert hospital.status_code == 200 and hospital.headers["cache-control"] == "private, max-age=3600"
