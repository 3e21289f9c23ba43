"""The demo accounts over a real server, as an acceptance check would drive them: demo-relative starts
with no grants; demo-patient invites; demo-relative accepts, reads, shows in the access history,
leaves."""

from __future__ import annotations

import httpx

from backend.auth.demo import seed_wechat
from tests.auth.helpers import csrf_headers, login


def test_demo_relative_invited_by_demo_patient(live_server, engine, settings) -> None:
    seed_wechat(settings=settings, engine=engine)
    base = live_server.url
    with httpx.Client(base_url=base) as patient, httpx.Client(base_url=base) as relative:
        assert login(patient, openid="demo-patient").status_code == 302
        assert login(relative, openid="demo-relative").status_code == 302
        assert relative.get("/api/v1/me").json()["people"] == []  # CONTRACT: no grants yet
        assert relative.get("/api/v1/grants").json() == []
        zhang = patient.get("/api/v1/me").json()["person"]["id"]

        invite = patient.post(f"/api/v1/people/{zhang}/invitations", headers=csrf_headers(patient),
                              json={"relationship": "child", "scope": "imaging"})
        assert invite.status_code == 201, invite.text
        assert invite.json()["url"].startswith(f"{base}/invite/yyi_")
        token = invite.json()["token"]
        assert relative.get(f"/api/v1/invitations/{token}").json()["person_name"] == "张*"
        grant = relative.post(f"/api/v1/invitations/{token}/accept", headers=csrf_headers(relative))
        assert grant.status_code == 201, grant.text

        people = relative.get("/api/v1/me").json()["people"]
        assert [(p["id"], p["relation"], p["name"]) for p in people] == [(zhang, "parent", "张*")]
        assert relative.get(f"/api/v1/people/{zhang}/timeline").status_code == 200
        log = patient.get(f"/api/v1/people/{zhang}/access-log").json()["items"]
        assert log[0]["actor"]["kind"] == "relative" and log[0]["actor"]["relationship_label"] == "子女"
        assert log[0]["via_grant_id"] == grant.json()["id"]

        left = relative.delete(f"/api/v1/grants/{grant.json()['id']}", headers=csrf_headers(relative))
        assert left.status_code == 204
        assert relative.get(f"/api/v1/people/{zhang}/timeline").status_code == 404
        assert [g["status"] for g in patient.get(f"/api/v1/people/{zhang}/grants").json()] == ["left"]
