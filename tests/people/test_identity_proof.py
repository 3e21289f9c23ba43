"""Issue 15 item 1: identity proof never rests on data one hospital key can change.

The attack the outside review reproduced: hospital B, which never treated 张伟, registers his resident
ID with a phone of its choosing; the answer echoes his real name; then an attacker's WeChat account
asks for a binding (or elder-proxy) code, which went to the new phone. These tests replay it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from backend.access.models import AuditEvent
from backend.db import session_scope
from tests.family import helpers as h

ZHANG_PHONE = "13912345678"
ATTACKER_PHONE = "13700001111"


def _world(client: Any, engine: Any, settings: Any) -> dict[str, Any]:
    a = h.hospital(engine, "江苏省人民医院")
    b = h.hospital(engine, "某地小诊所")
    rid = h.rid_for(h.years_ago(62, days=40), sequence=21)
    person = h.person(engine, settings, a, local_id="A-1", resident_id=rid, name="张伟", phone=ZHANG_PHONE)
    return {"a": a, "b": b, "rid": rid, "person": person}


def _sms_to(client: Any, phone: str) -> list[dict[str, Any]]:
    return [e for e in client.get("/_sim/wechat/inbox").json() if e["kind"] == "sms" and e["to"] == phone]


def test_a_second_hospital_cannot_redirect_identity_codes(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    res = client.put("/api/v1/institution/patients/B-77", headers=w["b"].headers,
                     json={"resident_id": w["rid"], "name": "张伟", "phone": ATTACKER_PHONE})
    assert res.status_code in (200, 201), res.text
    body = res.json()
    # The answer never returns data the hospital did not send: no stored name, no other phone, no person id.
    assert "person_id" not in body and body.get("name") in (None, "张伟")
    assert "5678" not in res.text and "139" not in res.text
    attacker = h.account(engine, "attacker-1")
    headers = h.cookie_headers(engine, settings, attacker)
    sent = client.post("/api/v1/me/binding/otp", json={"name": "张伟", "resident_id": w["rid"]}, headers=headers)
    assert sent.status_code == 200, sent.text
    assert _sms_to(client, ATTACKER_PHONE) == []  # the new phone never receives an identity code
    assert len(_sms_to(client, ZHANG_PHONE)) >= 1  # the verified phone does
    elder = client.post("/api/v1/elder-proxies/otp", json={"name": "张伟", "resident_id": w["rid"]}, headers=headers)
    assert elder.status_code == 200, elder.text
    assert [e for e in _sms_to(client, ATTACKER_PHONE) if "验证码" in e["text"]] == []


def test_registration_answer_does_not_echo_the_stored_name(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    res = client.put("/api/v1/institution/patients/B-78", headers=w["b"].headers,
                     json={"resident_id": w["rid"], "name": "李四"})
    assert res.status_code in (200, 201), res.text
    assert "张" not in res.text and "伟" not in res.text


def test_an_unbound_person_cannot_be_taken_over_as_self(client: Any, engine: Any, settings: Any) -> None:
    """王芳 is registered but unbound: hospital B's new phone must not let an attacker bind her as "self"."""
    w = _world(client, engine, settings)
    wang_rid = "320102198503120020"
    h.person(engine, settings, w["a"], local_id="A-2", resident_id=wang_rid, name="王芳", phone="13800138000")
    client.put("/api/v1/institution/patients/B-2", headers=w["b"].headers,
               json={"resident_id": wang_rid, "name": "王芳", "phone": ATTACKER_PHONE})
    attacker = h.account(engine, "attacker-2")
    headers = h.cookie_headers(engine, settings, attacker)
    client.post("/api/v1/me/binding/otp", json={"name": "王芳", "resident_id": wang_rid}, headers=headers)
    assert _sms_to(client, ATTACKER_PHONE) == []


def test_contact_changes_are_audited_and_shown_to_the_patient(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    owner = h.account(engine, "zhang-self", bind_to=w["person"])
    res = client.put("/api/v1/institution/patients/B-79", headers=w["b"].headers,
                     json={"resident_id": w["rid"], "name": "张伟", "phone": ATTACKER_PHONE})
    assert res.status_code in (200, 201), res.text
    with session_scope(engine, readonly=True) as s:
        types = set(s.exec(select(AuditEvent.event_type).where(col(AuditEvent.person_id) == w["person"])).all())
    assert "person.phone_proposed" in types
    contacts = client.get(f"/api/v1/people/{w['person']}/contacts", headers=h.cookie_headers(engine, settings, owner))
    assert contacts.status_code == 200, contacts.text
    data = contacts.json()
    assert data["verified_phone"] == "139****5678"
    assert [p["phone_masked"] for p in data["pending_changes"]] == ["137****1111"]
    # The old phone was told, in the same transaction as the proposal.
    assert any("137****1111" in e["text"] for e in _sms_to(client, ZHANG_PHONE))


def _propose(client: Any, w: dict[str, Any], local_id: str = "B-80", phone: str = ATTACKER_PHONE) -> None:
    res = client.put(f"/api/v1/institution/patients/{local_id}", headers=w["b"].headers,
                     json={"resident_id": w["rid"], "name": "张伟", "phone": phone})
    assert res.status_code in (200, 201), res.text


def _verified(engine: Any, settings: Any, person_id: str) -> str | None:
    from backend.people.models import Person
    from backend.people.service import contacts

    with session_scope(engine, readonly=True) as s:
        person = s.get(Person, person_id)
        assert person is not None
        return contacts._plain(settings, person.phone_cipher) if person.phone_cipher else None


def test_the_bound_account_confirms_or_rejects(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    owner = h.account(engine, "zhang-self-2", bind_to=w["person"])
    headers = h.cookie_headers(engine, settings, owner)
    _propose(client, w)
    change = client.get(f"/api/v1/people/{w['person']}/contacts", headers=headers).json()["pending_changes"][0]
    assert change["effective_at"] is None  # a bound person's phone never changes by waiting
    rejected = client.post(f"/api/v1/people/{w['person']}/phone-changes/{change['id']}/reject", headers=headers)
    assert rejected.status_code == 200 and rejected.json()["pending_changes"] == []
    assert _verified(engine, settings, w["person"]) == ZHANG_PHONE
    _propose(client, w, local_id="B-81", phone="13700002222")
    change = client.get(f"/api/v1/people/{w['person']}/contacts", headers=headers).json()["pending_changes"][0]
    ok = client.post(f"/api/v1/people/{w['person']}/phone-changes/{change['id']}/confirm", headers=headers)
    assert ok.status_code == 200 and ok.json()["verified_phone"] == "137****2222", ok.text
    assert _verified(engine, settings, w["person"]) == "13700002222"
    assert any("137****2222" in e["text"] and "已变更" in e["text"] for e in _sms_to(client, ZHANG_PHONE))
    again = client.post(f"/api/v1/people/{w['person']}/phone-changes/{change['id']}/confirm", headers=headers)
    assert again.status_code == 404  # settled


def test_relatives_neither_see_nor_decide_contacts(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    relative = h.account(engine, "zhang-daughter")
    h.grant(engine, person_id=w["person"], account_id=relative, may_share=True, may_grant=True)
    headers = h.cookie_headers(engine, settings, relative)
    _propose(client, w)
    assert client.get(f"/api/v1/people/{w['person']}/contacts", headers=headers).status_code == 404
    with session_scope(engine, readonly=True) as s:
        from backend.people.models import PhoneChange

        change_id = s.exec(select(PhoneChange.id)).one()
    res = client.post(f"/api/v1/people/{w['person']}/phone-changes/{change_id}/confirm", headers=headers)
    assert res.status_code == 404
    assert _verified(engine, settings, w["person"]) == ZHANG_PHONE


def test_unbound_person_waiting_period(client: Any, engine: Any, settings: Any) -> None:
    """Nobody bound: the proposal applies after the 7-day notice — not a moment before."""
    from datetime import timedelta

    from backend.clock import utcnow
    from backend.people.models import PhoneChange

    w = _world(client, engine, settings)
    _propose(client, w)
    asker = h.account(engine, "asker-1")
    headers = h.cookie_headers(engine, settings, asker)
    client.post("/api/v1/me/binding/otp", json={"name": "张伟", "resident_id": w["rid"]}, headers=headers)
    assert _verified(engine, settings, w["person"]) == ZHANG_PHONE
    with session_scope(engine) as s:
        change = s.exec(select(PhoneChange)).one()
        change.effective_at = utcnow() - timedelta(seconds=1)
        s.add(change)
    client.post("/api/v1/me/binding/otp", json={"name": "张伟", "resident_id": w["rid"]}, headers=headers)
    assert _verified(engine, settings, w["person"]) == ATTACKER_PHONE
    with session_scope(engine, readonly=True) as s:
        events = s.exec(select(AuditEvent.event_type, AuditEvent.detail)
                        .where(AuditEvent.event_type == "person.phone_changed")).all()
    assert [json.loads(d or "{}")["how"] for _, d in events] == ["waiting-period"]


def test_two_hospitals_holding_records_agree(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    h.bind(engine, h.account(engine, "zhang-self-3"), w["person"])
    c = h.hospital(engine, "南京市鼓楼医院")
    # A and C hold his records; B (no records) proposing too does not count.
    h.study(engine, w["a"], local_id="A-1", uid="1.2.826.0.1.99.1")
    h.person(engine, settings, c, local_id="C-1", resident_id=w["rid"], name="张伟")
    h.study(engine, c, local_id="C-1", uid="1.2.826.0.1.99.2")
    _propose(client, w, phone="13600003333")
    assert _verified(engine, settings, w["person"]) == ZHANG_PHONE
    res = client.put("/api/v1/institution/patients/A-1", headers=w["a"].headers,
                     json={"resident_id": w["rid"], "name": "张伟", "phone": "13600003333"})
    assert res.status_code == 200
    assert _verified(engine, settings, w["person"]) == ZHANG_PHONE  # B has no records: one holder so far
    res = client.put("/api/v1/institution/patients/C-1", headers=c.headers,
                     json={"resident_id": w["rid"], "name": "张伟", "phone": "13600003333"})
    assert res.status_code == 200
    assert _verified(engine, settings, w["person"]) == "13600003333"


def test_the_bound_account_proves_a_new_phone(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    owner = h.account(engine, "zhang-self-4", bind_to=w["person"])
    headers = h.cookie_headers(engine, settings, owner)
    sent = client.post("/api/v1/me/phone/otp", json={"phone": "135 0000 4444"}, headers=headers)
    assert sent.status_code == 200, sent.text
    code = h.last_sms(client, "13500004444")["code"]
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/api/v1/me/phone", json={"phone": "13500004444", "otp": wrong},
                       headers=headers).status_code == 400
    ok = client.post("/api/v1/me/phone", json={"phone": "13500004444", "otp": code}, headers=headers)
    assert ok.status_code == 204, ok.text
    assert _verified(engine, settings, w["person"]) == "13500004444"
    # An unbound account has no phone of a person to change.
    stranger = h.cookie_headers(engine, settings, h.account(engine, "nobody"))
    assert client.post("/api/v1/me/phone/otp", json={"phone": "13500005555"}, headers=stranger).status_code == 403


def test_contact_changes_show_in_the_patients_access_log(client: Any, engine: Any, settings: Any) -> None:
    w = _world(client, engine, settings)
    owner = h.account(engine, "zhang-self-5", bind_to=w["person"])
    _propose(client, w)
    log = client.get(f"/api/v1/people/{w['person']}/access-log", headers=h.cookie_headers(engine, settings, owner))
    assert log.status_code == 200, log.text
    proposed = [i for i in log.json()["items"] if i["event_type"] == "person.phone_proposed"]
    assert len(proposed) == 1 and proposed[0]["actor"]["display"] == "某地小诊所"
