"""Guardianship of a minor (with time travel to 14 and 18) and the elder-without-phone path."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlmodel import select

from backend.auth.models import BindingOtp
from backend.clock import CST
from backend.db import session_scope
from backend.family import rules
from backend.family.models import Grant
from tests.family import helpers as h

CHILD_PHONE = "13900000001"
ELDER_PHONE = "13700000002"


def _birthday(born: date, years: int, *, hour_cst: int = 1) -> datetime:
    """``hour_cst`` o'clock China Standard Time on the ``years``-th birthday, as aware UTC."""
    day = born.replace(year=born.year + years)
    return datetime.combine(day, time(hour_cst), tzinfo=CST)


def _guardian_world(engine, settings, *, age: int = 10):
    inst = h.hospital(engine)
    born = h.years_ago(age, days=40)
    rid = h.rid_for(born, sequence=11)
    child = h.person(engine, settings, inst, local_id="C1", resident_id=rid, name="张小宝", phone=CHILD_PHONE)
    h.study(engine, inst, local_id="C1", uid="1.2.826.0.3.1")
    mother = h.account(engine, "o-mother")
    return inst, child, rid, born, mother


def _become_guardian(client, headers, rid, *, name="张小宝"):
    sent = client.post("/api/v1/guardianships/otp", headers=headers, json={"name": name, "resident_id": rid})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"expires_in": 600}  # no phone digits before proof
    code = h.last_sms(client, CHILD_PHONE)["code"]
    return client.post("/api/v1/guardianships", headers=headers,
                       json={"name": name, "resident_id": rid, "otp": code, "relationship": "parent"})


def test_guardian_of_a_child_reads_and_sees_access_log(client, engine, settings) -> None:
    _, child, rid, born, mother = _guardian_world(engine, settings)
    mother_h = h.cookie_headers(engine, settings, mother)
    res = _become_guardian(client, mother_h, rid)
    assert res.status_code == 201, res.text
    grant = res.json()
    assert grant["kind"] == "guardian" and grant["status"] == "active" and grant["consent"]["method"] == "guardian-sms"
    assert grant["consent"]["phone_masked"] == "139****0001"
    assert h.grant_row(engine, grant["id"]).ward_birth_date == born
    assert client.get(f"/api/v1/people/{child}/timeline", headers=mother_h).status_code == 200
    assert client.get(f"/api/v1/people/{child}/access-log", headers=mother_h).status_code == 200
    me = client.get("/api/v1/me", headers=mother_h).json()
    assert [(p["id"], p["relation"]) for p in me["people"]] == [(child, "child")]

    # A code sent for guardianship is not an identity-binding code (purpose-separated index).
    client.post("/api/v1/guardianships/otp", headers=mother_h, json={"name": "张小宝", "resident_id": rid})
    code = h.last_sms(client, CHILD_PHONE)["code"]
    stolen = client.post("/api/v1/me/binding", headers=mother_h, json={
        "name": "张小宝", "resident_id": rid, "otp": code, "consent_version": "2026-11"})
    assert stolen.status_code == 400
    me = client.get("/api/v1/me", headers=mother_h).json()
    assert me["bound"] is False


def test_guardian_refused_at_14_and_for_unknown_children(client, engine, settings) -> None:
    inst = h.hospital(engine)
    teen_rid = h.rid_for(h.years_ago(14, days=1), sequence=12)
    h.person(engine, settings, inst, local_id="T1", resident_id=teen_rid, name="李小", phone=CHILD_PHONE)
    mother_h = h.cookie_headers(engine, settings, h.account(engine, "o-mother"))
    res = client.post("/api/v1/guardianships/otp", headers=mother_h, json={"name": "李小", "resident_id": teen_rid})
    assert res.status_code == 422 and h.code(res) == "guardian-age"
    with session_scope(engine, readonly=True) as s:
        assert s.exec(select(BindingOtp)).all() == []
    assert client.get("/_sim/wechat/inbox").json() == []

    ghost = h.rid_for(h.years_ago(6), sequence=99)
    sent = client.post("/api/v1/guardianships/otp", headers=mother_h, json={"name": "无名", "resident_id": ghost})
    assert sent.status_code == 200 and sent.json() == {"expires_in": 600}  # the same answer: no oracle
    assert client.get("/_sim/wechat/inbox").json() == []
    res = client.post("/api/v1/guardianships", headers=mother_h,
                      json={"name": "无名", "resident_id": ghost, "otp": "123456", "relationship": "parent"})
    assert res.status_code == 400 and h.code(res) == "otp-invalid"
    with session_scope(engine, readonly=True) as s:
        assert s.exec(select(Grant)).all() == []


def test_time_travel_14_pending_until_teen_confirms_and_18_ends(client, engine, settings) -> None:
    _, child, rid, born, mother = _guardian_world(engine, settings, age=13)
    mother_h = h.cookie_headers(engine, settings, mother)
    grant_id = _become_guardian(client, mother_h, rid).json()["id"]
    timeline = f"/api/v1/people/{child}/timeline"

    with rules.travel(_birthday(born, 14) - timedelta(hours=2)):  # the evening before (CST)
        assert client.get(timeline, headers=mother_h).status_code == 200
    with rules.travel(_birthday(born, 14)):
        assert client.get(timeline, headers=mother_h).status_code == 404
        assert client.get("/api/v1/me", headers=mother_h).json()["people"] == []
        held = client.get("/api/v1/grants", headers=mother_h).json()
        assert [g["status"] for g in held] == ["pending"]
        # the teenager binds their own account and confirms the guardian
        teen = h.account(engine, "o-teen", bind_to=child)
        teen_h = h.cookie_headers(engine, settings, teen)
        listed = client.get(f"/api/v1/people/{child}/grants", headers=teen_h).json()
        assert [(g["id"], g["status"]) for g in listed] == [(grant_id, "pending")]
        assert client.post(f"/api/v1/grants/{grant_id}/confirm", headers=mother_h).status_code == 404
        res = client.post(f"/api/v1/grants/{grant_id}/confirm", headers=teen_h)
        assert res.status_code == 200 and res.json()["status"] == "active", res.text
        assert client.get(timeline, headers=mother_h).status_code == 200
        # at 14-17 the teen reads their own access log; the guardian still may (a minor)
        assert client.get(f"/api/v1/people/{child}/access-log", headers=teen_h).status_code == 200
    with rules.travel(_birthday(born, 18) - timedelta(hours=2)):
        assert client.get(timeline, headers=mother_h).status_code == 200
    with rules.travel(_birthday(born, 18)):
        assert client.get(timeline, headers=mother_h).status_code == 404
        assert client.get(f"/api/v1/people/{child}/grants", headers=teen_h).json()[0]["status"] == "ended"
        assert client.get(timeline, headers=teen_h).status_code == 200  # the adult's own access is untouched
        # ... unless the adult grants anew: the ended guardianship does not block a fresh invitation
        inv = client.post(f"/api/v1/people/{child}/invitations", headers=teen_h, json={"relationship": "parent"})
        accepted = client.post(f"/api/v1/invitations/{inv.json()['token']}/accept", headers=mother_h)
        assert accepted.status_code == 201 and accepted.json()["kind"] == "invitation"
        assert client.get(timeline, headers=mother_h).status_code == 200
        assert h.grant_row(engine, grant_id).status == "ended"


def test_teen_declines_guardian(client, engine, settings) -> None:
    _, child, rid, born, mother = _guardian_world(engine, settings, age=13)
    mother_h = h.cookie_headers(engine, settings, mother)
    grant_id = _become_guardian(client, mother_h, rid).json()["id"]
    with rules.travel(_birthday(born, 15)):
        teen_h = h.cookie_headers(engine, settings, h.account(engine, "o-teen", bind_to=child))
        assert client.post(f"/api/v1/grants/{grant_id}/decline", headers=teen_h).json()["status"] == "revoked"
    assert client.get(f"/api/v1/people/{child}/timeline", headers=mother_h).status_code == 404


def test_elder_without_phone(client, engine, settings) -> None:
    inst = h.hospital(engine)
    rid = h.rid_for(date(1940, 1, 1), sequence=5)
    elder = h.person(engine, settings, inst, local_id="E1", resident_id=rid, name="王老汉", phone=ELDER_PHONE)
    h.study(engine, inst, local_id="E1", uid="1.2.826.0.4.1")
    daughter_h = h.cookie_headers(engine, settings, h.account(engine, "o-daughter"))
    assert client.post("/api/v1/elder-proxies/otp", headers=daughter_h,
                       json={"name": "王老汉", "resident_id": rid}).status_code == 200
    code = h.last_sms(client, ELDER_PHONE)["code"]
    body = {"name": "王老汉", "resident_id": rid, "otp": code, "relationship": "child", "scope": "imaging"}
    short = client.post("/api/v1/elder-proxies", headers=daughter_h, json={**body, "consent_statement": "好"})
    assert short.status_code == 422 and h.code(short) == "statement-required"
    statement = "本人王老汉同意女儿代我在云影查看影像检查结果"
    res = client.post("/api/v1/elder-proxies", headers=daughter_h, json={**body, "consent_statement": statement})
    assert res.status_code == 201, res.text
    grant = res.json()
    assert grant["kind"] == "elder" and grant["consent"]["statement"] == statement
    assert grant["consent"]["method"] == "elder-sms-statement" and grant["scope"] == "imaging"
    notice = h.last_sms(client, ELDER_PHONE)
    assert "已开通" in notice["text"] and "子女" in notice["text"]
    assert client.get(f"/api/v1/people/{elder}/timeline", headers=daughter_h).status_code == 200
    # a minor is never reached through the elder path
    kid = h.rid_for(h.years_ago(9), sequence=21)
    res = client.post("/api/v1/elder-proxies/otp", headers=daughter_h, json={"name": "小孩", "resident_id": kid})
    assert res.status_code == 422 and h.code(res) == "elder-age"


def test_a_confirmed_teen_decides_about_grants_not_the_guardian(client, engine, settings) -> None:
    """Issue 15 item 8: once the 14-17-year-old has confirmed the guardian, the guardian reads but no
    longer revokes the teen's other grants (PIPL art. 31; the guardian role narrows at 14)."""
    _, child, rid, born, mother = _guardian_world(engine, settings, age=13)
    mother_h = h.cookie_headers(engine, settings, mother)
    guardian_grant = _become_guardian(client, mother_h, rid).json()["id"]
    with rules.travel(_birthday(born, 15)):
        teen = h.account(engine, "o-teen", bind_to=child)
        teen_h = h.cookie_headers(engine, settings, teen)
        assert client.post(f"/api/v1/grants/{guardian_grant}/confirm", headers=teen_h).status_code == 200
        friend = h.account(engine, "o-teen-sibling")
        other = h.grant(engine, person_id=child, account_id=friend, relationship="sibling")
        assert client.get(f"/api/v1/people/{child}/timeline", headers=mother_h).status_code == 200
        listed = client.get(f"/api/v1/people/{child}/grants", headers=mother_h).json()
        assert [g["id"] for g in listed] == [guardian_grant]  # only the guardian's own grant
        revoke = client.delete(f"/api/v1/grants/{other}", headers=mother_h)
        assert revoke.status_code == 404, revoke.text
        assert h.grant_row(engine, other).status == "active"
        assert client.delete(f"/api/v1/grants/{other}", headers=teen_h).status_code == 204
    # Below 14 the guardian manages the child's grants.
    _, child2, rid2, _, _ = _guardian_world_second(engine, settings)
    res = _become_guardian(client, mother_h, rid2, name="张小二")
    assert res.status_code == 201, res.text
    cousin = h.grant(engine, person_id=child2, account_id=h.account(engine, "o-cousin"), relationship="other")
    assert client.delete(f"/api/v1/grants/{cousin}", headers=mother_h).status_code == 204


def _guardian_world_second(engine, settings):
    inst = h.hospital(engine, "第二医院")
    born = h.years_ago(8, days=10)
    rid = h.rid_for(born, sequence=31)
    child = h.person(engine, settings, inst, local_id="C2", resident_id=rid, name="张小二", phone=CHILD_PHONE)
    return inst, child, rid, born, None
