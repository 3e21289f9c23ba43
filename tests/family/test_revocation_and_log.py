"""Revocation on the very next request (real server, real WeChat login cookies), leaving, expiry,
the access history and the daily digest."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import select

from backend.clock import utcnow
from backend.db import session_scope
from backend.family import notices, rules
from backend.notify.models import Notification
from tests.auth.helpers import csrf_headers, login
from tests.family import helpers as h

FATHER_RID = "320106196203150013"


def test_revocation_effective_on_next_request_live(live_server, engine, settings) -> None:
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    with httpx.Client(base_url=live_server.url) as owner, httpx.Client(base_url=live_server.url) as daughter:
        assert login(owner, openid="live-owner").status_code == 302
        assert login(daughter, openid="live-daughter").status_code == 302
        h.bind(engine, h.account_id_of(engine, "live-owner"), father)
        daughter_id = h.account_id_of(engine, "live-daughter")
        invite = owner.post(f"/api/v1/people/{father}/invitations", headers=csrf_headers(owner),
                            json={"relationship": "child"})
        assert invite.status_code == 201, invite.text
        accepted = daughter.post(f"/api/v1/invitations/{invite.json()['token']}/accept",
                                 headers=csrf_headers(daughter))
        assert accepted.status_code == 201 and accepted.json()["grantee_account_id"] == daughter_id
        grant_id = accepted.json()["id"]
        assert daughter.get(f"/api/v1/people/{father}/timeline").status_code == 200
        token_before = daughter.cookies.get("yy_session")

        assert owner.delete(f"/api/v1/grants/{grant_id}", headers=csrf_headers(owner)).status_code == 204
        # the very next request, same still-valid session token, no refresh in between
        assert daughter.cookies.get("yy_session") == token_before
        assert daughter.get(f"/api/v1/people/{father}/timeline").status_code == 404
        assert daughter.get("/api/v1/me").json()["people"] == []
        grants = owner.get(f"/api/v1/people/{father}/grants").json()
        assert [(g["id"], g["status"]) for g in grants] == [(grant_id, "revoked")]
        # leaving an ended grant changes nothing (idempotent); an unsafe request without CSRF header: 403
        assert daughter.delete(f"/api/v1/grants/{grant_id}", headers=csrf_headers(daughter)).status_code == 204
        assert owner.delete(f"/api/v1/grants/{grant_id}").status_code == 403


def _proxy_world(engine, settings, **grant_fields):
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    study_id = h.study(engine, inst, local_id="P1", uid="1.2.826.0.5.1")
    owner = h.account(engine, "o-owner", bind_to=father)
    daughter_person = h.person(engine, settings, inst, local_id="P2",
                               resident_id=h.rid_for(h.years_ago(30), sex="F"), name="张娜")
    daughter = h.account(engine, "o-daughter", bind_to=daughter_person)
    grant_id = h.grant(engine, person_id=father, account_id=daughter, **grant_fields)
    return inst, father, study_id, owner, daughter, grant_id


def test_leave_expiry_and_strangers(client, engine, settings) -> None:
    _, father, _, _, daughter, grant_id = _proxy_world(engine, settings, expires_at=utcnow() + timedelta(days=7))
    daughter_h = h.cookie_headers(engine, settings, daughter)
    stranger_h = h.cookie_headers(engine, settings, h.account(engine, "o-stranger"))
    timeline = f"/api/v1/people/{father}/timeline"
    assert client.get(timeline, headers=daughter_h).status_code == 200
    with rules.travel(utcnow() + timedelta(days=8)):
        assert client.get(timeline, headers=daughter_h).status_code == 404
        assert client.get("/api/v1/grants", headers=daughter_h).json()[0]["status"] == "expired"
    assert client.delete(f"/api/v1/grants/{grant_id}", headers=stranger_h).status_code == 404
    assert client.delete("/api/v1/grants/nope", headers=stranger_h).status_code == 404
    assert client.get(timeline, headers=daughter_h).status_code == 200
    assert client.delete(f"/api/v1/grants/{grant_id}", headers=daughter_h).status_code == 204  # she leaves
    assert h.grant_row(engine, grant_id).status == "left"
    assert client.get(timeline, headers=daughter_h).status_code == 404


def test_the_relative_is_told_when_the_person_revokes(client, engine, settings) -> None:
    """Issue 19 item 1: a revoked relative gets one WeChat notice that leads to the app's explanation;
    a relative who leaves gets none (they did it themselves)."""
    _, father, _, owner, daughter, grant_id = _proxy_world(engine, settings)
    owner_h = h.cookie_headers(engine, settings, owner)
    for _ in range(2):  # revoking twice tells once
        assert client.delete(f"/api/v1/grants/{grant_id}", headers=owner_h).status_code == 204
    with session_scope(engine, readonly=True) as s:
        rows = s.exec(select(Notification).where(Notification.account_id == daughter)).all()
    assert [(r.kind, r.person_id, r.event_key) for r in rows] == [("grant_ended", father, f"grant:{grant_id}:ended")]
    other = h.grant(engine, person_id=father, account_id=daughter)
    daughter_h = h.cookie_headers(engine, settings, daughter)
    assert client.delete(f"/api/v1/grants/{other}", headers=daughter_h).status_code == 204
    with session_scope(engine, readonly=True) as s:
        assert len(s.exec(select(Notification).where(Notification.account_id == daughter)).all()) == 1


def test_access_log_names_the_relative_and_the_study(client, engine, settings) -> None:
    _, father, study_id, owner, daughter, grant_id = _proxy_world(engine, settings)
    owner_h, daughter_h = h.cookie_headers(engine, settings, owner), h.cookie_headers(engine, settings, daughter)
    assert client.get(f"/api/v1/people/{father}/studies/{study_id}", headers=daughter_h).status_code == 200
    assert client.get(f"/api/v1/people/{father}/timeline", headers=owner_h).status_code == 200
    # a proxy (not a guardian) cannot read the log: 404 like anything not theirs
    assert client.get(f"/api/v1/people/{father}/access-log", headers=daughter_h).status_code == 404
    page = client.get(f"/api/v1/people/{father}/access-log", params={"limit": 1}, headers=owner_h)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    first = page.json()
    assert [i["event_type"] for i in first["items"]] == ["timeline.read"]  # newest first
    assert first["items"][0]["actor"]["display"] == "本人" and first["items"][0]["via"] == "self"
    second = client.get(f"/api/v1/people/{father}/access-log", headers=owner_h,
                        params={"limit": 1, "cursor": first["next_cursor"]}).json()
    item = second["items"][0]
    assert item["event_type"] == "study.read" and item["title"] and "CT" in item["title"]
    assert item["actor"] == {"kind": "relative", "display": "张* (子女)", "relationship": "child",
                             "relationship_label": "子女", "masked_name": "张*", "share_ref": None,
                             "institution_name": None, "recipient": None}
    assert item["via"] == "grant" and item["via_grant_id"] == grant_id and item["object_id"] == study_id
    # reading the log is not itself listed as a read of the records
    again = client.get(f"/api/v1/people/{father}/access-log", headers=owner_h).json()
    assert [i["event_type"] for i in again["items"]][:2] == ["timeline.read", "study.read"]
    assert client.get(f"/api/v1/people/{father}/access-log", params={"cursor": "x"}, headers=owner_h).status_code == 422


def test_daily_digest_is_batched(client, engine, settings) -> None:
    _, father, study_id, owner, daughter, _ = _proxy_world(engine, settings)
    daughter_h = h.cookie_headers(engine, settings, daughter)
    for _ in range(3):
        assert client.get(f"/api/v1/people/{father}/studies/{study_id}", headers=daughter_h).status_code == 200
    today = rules.today_cst()
    with session_scope(engine, readonly=True) as s:
        assert notices.proxy_views(s, day=today) == {father: 3}
        assert notices.proxy_views(s, day=today - timedelta(days=1)) == {}
    assert notices.send_daily_digest(engine=engine, day=today) == 1
    assert notices.send_daily_digest(engine=engine, day=today) == 0  # at most one a day
    with session_scope(engine, readonly=True) as s:
        rows = s.exec(select(Notification).where(Notification.kind == notices.PROXY_DIGEST)).all()
        assert [(r.account_id, r.event_key) for r in rows] == [(owner, f"digest:{today.isoformat()}")]


def test_a_viewed_series_is_named_by_its_study(client, engine, settings) -> None:
    from backend.access.principals import AccountPrincipal
    from backend.access.service import PersonAccess
    from backend.studies.models import Series

    _, father, study_id, owner, daughter, grant_id = _proxy_world(engine, settings)
    with session_scope(engine) as s:
        series_id = s.exec(select(Series.id).where(Series.study_id == study_id)).one()
        access = PersonAccess(person_id=father, principal=AccountPrincipal(daughter), relation="child",
                              via_grant_id=grant_id)
        access.audit(s, event_type="series.view", object_type="imaging_series", object_id=series_id)
    item = client.get(f"/api/v1/people/{father}/access-log", headers=h.cookie_headers(engine, settings, owner)).json()
    first = item["items"][0]
    assert (first["action_label"], first["actor"]["display"], first["via"]) == ("浏览了影像", "张* (子女)", "grant")
    assert first["title"] and "CT" in first["title"]


def test_a_checked_paper_report_shows_as_public(client, engine, settings) -> None:
    from backend.access import audit
    from backend.access.principals import Anonymous

    _, father, study_id, owner, _, _ = _proxy_world(engine, settings)
    with session_scope(engine) as s:
        audit.record(s, principal=Anonymous(), action=audit.READ, event_type="pdf.verify", person_id=father,
                     object_type="imaging_study", object_id=study_id)
    first = client.get(f"/api/v1/people/{father}/access-log",
                       headers=h.cookie_headers(engine, settings, owner)).json()["items"][0]
    assert (first["actor"]["kind"], first["via"], first["action_label"]) == ("public", "public", "核验了纸质报告")
    assert "CT" in first["title"]


def test_the_person_chooses_what_a_relative_sees_and_when_they_last_looked(client, engine, settings) -> None:
    """Issue 19 item 4, attack first: the relative (or a stranger) cannot widen or even see the setting (404);
    a study the person hid is gone from every read through the grant, the next request; kinds narrow it
    further; the person sees when the relative last looked."""
    _, father, study_id, owner, daughter, grant_id = _proxy_world(engine, settings)
    owner_h, daughter_h = h.cookie_headers(engine, settings, owner), h.cookie_headers(engine, settings, daughter)
    stranger_h = h.cookie_headers(engine, settings, h.account(engine, "o-stranger"))
    url = f"/api/v1/grants/{grant_id}/visibility"
    for who in (daughter_h, stranger_h):
        assert client.put(url, headers=who, json={"scope": "all", "hidden_study_ids": []}).status_code == 404
    detail = f"/api/v1/people/{father}/studies/{study_id}"
    assert client.get(detail, headers=daughter_h).status_code == 200
    [listed] = client.get(f"/api/v1/people/{father}/grants", headers=owner_h).json()
    assert listed["last_viewed_at"] is not None and listed["hidden_study_ids"] == []

    assert client.put(url, headers=owner_h, json={"hidden_study_ids": ["not-a-record"]}).status_code == 404
    res = client.put(url, headers=owner_h, json={"scope": "all", "hidden_study_ids": [study_id]})
    assert res.status_code == 200 and res.json()["hidden_study_ids"] == [study_id]
    timeline = client.get(f"/api/v1/people/{father}/timeline", headers=daughter_h).json()
    assert study_id not in {i["ref_id"] for i in timeline["items"]}
    assert client.get(detail, headers=daughter_h).status_code == 404
    assert client.get(f"{detail}/report.pdf", headers=daughter_h).status_code == 404
    assert client.get(detail, headers=owner_h).status_code == 200  # the person still sees it
    res = client.put(url, headers=owner_h, json={"scope": "kinds", "kinds": ["lab_result"], "hidden_study_ids": []})
    assert res.status_code == 200 and res.json()["kinds"] == ["lab_result"]
    assert client.get(detail, headers=daughter_h).status_code == 404
    assert client.put(url, headers=owner_h, json={"scope": "kinds", "kinds": ["x"]}).status_code == 422
