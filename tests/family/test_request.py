"""Request path: a relative asks by name + resident ID; the person confirms or declines; the answer to
the asker never says whether the person exists."""

from __future__ import annotations

from sqlmodel import select

from backend.db import session_scope
from backend.family.models import Grant
from backend.notify.models import Notification
from tests.family import helpers as h

FATHER_RID = "320106196203150013"


def _world(engine, settings):
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    h.study(engine, inst, local_id="P1", uid="1.2.826.0.2.1")
    owner = h.account(engine, "o-owner", bind_to=father)
    son = h.account(engine, "o-son", nickname="张小明")
    return father, owner, son


def _ask(client, headers, **body):
    payload = {"name": "张伟", "resident_id": FATHER_RID, "relationship": "child", "scope": "imaging", **body}
    return client.post("/api/v1/grant-requests", headers=headers, json=payload)


def test_request_confirm_then_read(client, engine, settings) -> None:
    father, owner, son = _world(engine, settings)
    owner_h, son_h = h.cookie_headers(engine, settings, owner), h.cookie_headers(engine, settings, son)
    real = _ask(client, son_h)
    nobody = _ask(client, son_h, name="李四", resident_id=h.rid_for(h.years_ago(50), sequence=3))
    wrong_name = _ask(client, son_h, name="张三")
    assert real.status_code == nobody.status_code == wrong_name.status_code == 202
    assert real.json() == nobody.json() == wrong_name.json()  # no answer reveals existence
    assert _ask(client, son_h).json() == real.json()  # repeating a pending request: the same answer

    assert client.get(f"/api/v1/people/{father}/timeline", headers=son_h).status_code == 404  # pending reads nothing
    grants = client.get(f"/api/v1/people/{father}/grants", headers=owner_h).json()
    assert [(g["status"], g["kind"], g["grantee_name"]) for g in grants] == [("pending", "request", "张**")]
    with session_scope(engine, readonly=True) as s:
        assert s.exec(select(Notification.kind).where(Notification.account_id == owner)).all() == ["grant_request"]
        assert len(s.exec(select(Grant)).all()) == 1

    grant_id = grants[0]["id"]
    assert client.post(f"/api/v1/grants/{grant_id}/confirm", headers=son_h).status_code == 404  # not his to answer
    res = client.post(f"/api/v1/grants/{grant_id}/confirm", headers=owner_h)
    assert res.status_code == 200 and res.json()["status"] == "active"
    assert res.json()["consent"]["method"] == "owner-confirm" and res.json()["consent"]["account_id"] == owner
    assert client.post(f"/api/v1/grants/{grant_id}/confirm", headers=owner_h).status_code == 409
    assert client.get(f"/api/v1/people/{father}/timeline", headers=son_h).status_code == 200
    again = _ask(client, son_h)
    assert again.status_code == 409 and h.code(again) == "grant-exists"


def test_decline_and_bad_requests(client, engine, settings) -> None:
    father, owner, son = _world(engine, settings)
    owner_h, son_h = h.cookie_headers(engine, settings, owner), h.cookie_headers(engine, settings, son)
    assert _ask(client, son_h).status_code == 202
    grant_id = client.get(f"/api/v1/people/{father}/grants", headers=owner_h).json()[0]["id"]
    res = client.post(f"/api/v1/grants/{grant_id}/decline", headers=owner_h)
    assert res.status_code == 200 and res.json()["status"] == "declined"
    assert client.get(f"/api/v1/people/{father}/timeline", headers=son_h).status_code == 404

    to_self = _ask(client, owner_h)
    assert to_self.status_code == 422 and h.code(to_self) == "grant-to-self"
    bad_id = _ask(client, son_h, resident_id="320106196203150014")
    assert bad_id.status_code == 422
    assert _ask(client, son_h, relationship="landlord").status_code == 422
    assert client.post("/api/v1/grant-requests", json={"name": "张伟", "resident_id": FATHER_RID,
                                                       "relationship": "child"}).status_code == 401
    with session_scope(engine, readonly=True) as s:
        assert [g.status for g in s.exec(select(Grant)).all()] == ["declined"]
