"""The doctor's view through a share session: exactly the shared studies of exactly one person."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.sharing.conftest import browser
from tests.sharing.world import ShareWorld, open_share, token_of


def test_open_without_code_redirects_without_token_and_sets_share_cookie(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    res = open_share(doctor, token_of(made['url']))
    assert res.status_code == 303
    assert res.headers["location"] == "/doctor"
    assert res.headers["cache-control"] == "no-store" and res.headers["referrer-policy"] == "no-referrer"
    cookie = res.headers["set-cookie"]
    assert cookie.startswith("yy_share=yyss_") and "HttpOnly" in cookie and "Path=/" in cookie
    assert "samesite=lax" in cookie.lower()


def test_session_reads_exactly_the_shared_study(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(study_ids=[world.studies["a"]], note="请对比 2019 年片子")
    open_share(doctor, token_of(made['url']))
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


def test_dicomweb_cors_only_for_the_platform_origin(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    open_share(doctor, token_of(made['url']))
    own = doctor.get("/dicomweb/studies", headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and len(own.json()) == 1
    assert own.headers["access-control-allow-origin"] == "http://testserver"
    assert own.headers["access-control-allow-credentials"] == "true"
    foreign = doctor.get("/dicomweb/studies", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    preflight = doctor.options("/dicomweb/studies", headers={
        "Origin": "http://testserver", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "accept"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "http://testserver"
    refused = doctor.options("/dicomweb/studies", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 400
    api = doctor.get("/api/v1/share/session", headers={"Origin": "http://testserver"})
    assert "access-control-allow-origin" not in api.headers  # the JSON API stays same-origin only


def test_with_and_without_reports(world: ShareWorld, client: TestClient) -> None:
    for include, expect in ((True, True), (False, False)):
        made = world.create(include_reports=include)
        with browser(client.app) as doctor:
            open_share(doctor, token_of(made['url']))
            body = doctor.get("/api/v1/share/session").json()
        assert body["include_reports"] is include
        [study] = body["studies"]
        assert study["has_report"] is expect and (study["report_pdf_url"] is not None) is expect


def test_previews_of_the_shared_study_only(world: ShareWorld, doctor: TestClient, client: TestClient) -> None:
    made = world.create(study_ids=[world.studies["a"]])
    owner = world.owner_headers()
    pid = world.person_id
    b_detail = client.get(f"/api/v1/people/{pid}/studies/{world.studies['b']}", headers=owner).json()
    open_share(doctor, token_of(made['url']))
    detail = doctor.get(f"/api/v1/people/{pid}/studies/{world.studies['a']}").json()
    urls = [u for s in detail["series"] for u in s["previews"].values() if isinstance(u, str) and u.startswith("/")]
    assert urls, detail["series"]
    res = doctor.get(urls[0])
    assert res.status_code == 200 and res.headers["content-type"].startswith("image/")
    b_urls = [u for s in b_detail["series"] for u in s["previews"].values() if isinstance(u, str) and u.startswith("/")]
    assert b_urls and client.get(b_urls[0], headers=owner).status_code == 200
    assert doctor.get(b_urls[0]).status_code == 404
    # withdrawn: the doctor's very next image is refused (the preview hot path's cached decision too)
    assert doctor.get(urls[0]).status_code == 200
    assert client.delete(f"/api/v1/shares/{made['id']}", headers=owner).status_code == 204
    assert doctor.get(urls[0]).status_code == 404


def test_a_share_without_reports_shows_no_report_anywhere(world: ShareWorld, client: TestClient) -> None:
    """The report must not leak through the study detail, the PDF, the timeline line, the FHIR export
    or the summary PDF when the patient shared images only."""
    made = world.create(include_reports=False)
    pid = world.person_id
    with browser(client.app) as doctor:
        open_share(doctor, token_of(made['url']))
        [study] = doctor.get("/api/v1/share/session").json()["studies"]
        detail = doctor.get(f"/api/v1/people/{pid}/studies/{study['id']}")
        assert detail.status_code == 200
        assert detail.json()["report"] is None and detail.json()["report_history"] == []
        assert doctor.get(f"/api/v1/people/{pid}/studies/{study['id']}/report.pdf").status_code == 404
        assert doctor.get(f"/api/v1/people/{pid}/summary.pdf").status_code == 404
        items = doctor.get(f"/api/v1/people/{pid}/timeline").json()["items"]
        assert items and all(item["summary"] == "" for item in items)
        bundle = doctor.get(f"/api/v1/people/{pid}/export/fhir").json()
        assert "DiagnosticReport" not in {e["resource"]["resourceType"] for e in bundle["entry"]}
    # The owner still sees the report the doctor did not get.
    owner_detail = client.get(f"/api/v1/people/{pid}/studies/{study['id']}", headers=world.owner_headers()).json()
    assert owner_detail["report"] is not None
