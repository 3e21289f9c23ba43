"""The doctor's view through a share session: exactly the shared studies of exactly one person."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.sharing.world import ShareWorld, token_of


def test_open_without_code_redirects_without_token_and_sets_share_cookie(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    res = doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"] == "/doctor"
    assert res.headers["cache-control"] == "no-store" and res.headers["referrer-policy"] == "no-referrer"
    cookie = res.headers["set-cookie"]
    assert cookie.startswith("yy_share=yyss_") and "HttpOnly" in cookie and "Path=/" in cookie
    assert "samesite=lax" in cookie.lower()


def test_session_reads_exactly_the_shared_study(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(study_ids=[world.studies["a"]], note="请对比 2019 年片子")
    doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
    res = doctor.get("/api/v1/share/session")
    assert res.status_code == 200, res.text
    body = res.json()
    assert [s["id"] for s in body["studies"]] == [world.studies["a"]]
    assert body["patient"]["name_masked"] == "张*" and body["patient"]["sex"] == "M" and body["patient"]["age"] == 62
    assert "**********" in body["patient"]["resident_id_masked"]
    assert body["note"] == "请对比 2019 年片子" and body["allow_download"] is False
    assert res.headers["cache-control"] == "no-store"
    pid = world.person_id
    assert doctor.get(f"/api/v1/people/{pid}/studies/{world.studies['a']}").status_code == 200
    assert doctor.get(f"/api/v1/people/{pid}/studies/{world.studies['b']}").status_code == 404
    other = world.other_person_id
    assert doctor.get(f"/api/v1/people/{other}/studies/{world.studies['other']}").status_code == 404
    timeline = doctor.get(f"/api/v1/people/{pid}/timeline")
    assert timeline.status_code == 200
    assert [i["ref_id"] for i in timeline.json()["items"]] == [world.studies["a"]]
