"""Invitation path over HTTP with cookie sessions: create → accept → read; and every bad input."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from backend.clock import utcnow
from backend.crypto import lookup_digest
from backend.db import session_scope
from backend.family.models import Grant, Invitation
from backend.notify.models import Notification
from tests.family import helpers as h

FATHER_RID = "320106196203150013"


def _world(engine, settings):
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    h.study(engine, inst, local_id="P1", uid="1.2.826.0.1.1")
    owner = h.account(engine, "o-owner", bind_to=father)
    daughter_person = h.person(engine, settings, inst, local_id="P2",
                               resident_id=h.rid_for(h.years_ago(35), sex="F"), name="张娜")
    daughter = h.account(engine, "o-daughter", bind_to=daughter_person)
    return inst, father, owner, daughter


def _invite(client, headers, person_id, **body):
    res = client.post(f"/api/v1/people/{person_id}/invitations", headers=headers,
                      json={"relationship": "child", **body})
    assert res.status_code == 201, res.text
    return res.json()


def test_invite_accept_read_and_me(client, engine, settings) -> None:
    _, father, owner, daughter = _world(engine, settings)
    owner_h = h.cookie_headers(engine, settings, owner)
    daughter_h = h.cookie_headers(engine, settings, daughter)
    assert client.get(f"/api/v1/people/{father}/timeline", headers=daughter_h).status_code == 404

    inv = _invite(client, owner_h, father)
    assert inv["url"] == f"{settings.public_url}/invite/{inv['token']}"
    assert inv["token"].startswith("yyi_") and len(inv["token"]) > 30
    assert inv["qr_svg"].startswith("data:image/svg+xml")
    with session_scope(engine, readonly=True) as s:  # only the digest is stored
        row = s.exec(select(Invitation)).one()
        assert row.token_digest == lookup_digest(inv["token"]) and inv["token"] not in row.token_digest

    preview = client.get(f"/api/v1/invitations/{inv['token']}", headers=daughter_h).json()
    assert preview["person_name"] == "张*" and preview["status"] == "open" and preview["relationship_label"] == "子女"

    res = client.post(f"/api/v1/invitations/{inv['token']}/accept", headers=daughter_h)
    assert res.status_code == 201, res.text
    grant = res.json()
    assert grant["status"] == "active" and grant["kind"] == "invitation" and grant["consent"]["method"] == "invitation"
    assert grant["may_share"] is False and grant["may_grant"] is False

    timeline = client.get(f"/api/v1/people/{father}/timeline", headers=daughter_h)
    assert timeline.status_code == 200 and len(timeline.json()["items"]) == 1
    me = client.get("/api/v1/me", headers=daughter_h).json()
    assert [(p["id"], p["relation"]) for p in me["people"]][1] == (father, "parent")  # the father is my parent

    with session_scope(engine, readonly=True) as s:  # the father is told the grant started
        kinds = s.exec(select(Notification.kind).where(Notification.account_id == owner)).all()
        assert "grant_started" in kinds

    # a proxy without may_grant cannot invite further, nor (default) see others' grants
    res = client.post(f"/api/v1/people/{father}/invitations", headers=daughter_h, json={"relationship": "other"})
    assert res.status_code == 403 and h.code(res) == "grant-not-allowed"
    listed = client.get(f"/api/v1/people/{father}/grants", headers=daughter_h).json()
    assert [g["id"] for g in listed] == [grant["id"]]
    assert client.get("/api/v1/grants", headers=daughter_h).json()[0]["id"] == grant["id"]


def test_bad_invitations_change_nothing(client, engine, settings) -> None:
    _, father, owner, daughter = _world(engine, settings)
    owner_h = h.cookie_headers(engine, settings, owner)
    daughter_h = h.cookie_headers(engine, settings, daughter)

    own = _invite(client, owner_h, father)
    res = client.post(f"/api/v1/invitations/{own['token']}/accept", headers=owner_h)
    assert res.status_code == 422 and h.code(res) == "own-invitation"

    expired = _invite(client, owner_h, father)
    with session_scope(engine) as s:
        row = s.exec(select(Invitation).where(Invitation.token_digest == lookup_digest(expired["token"]))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    res = client.post(f"/api/v1/invitations/{expired['token']}/accept", headers=daughter_h)
    assert res.status_code == 410 and h.code(res) == "invitation-expired"

    unknown = client.post("/api/v1/invitations/yyi_notarealtoken/accept", headers=daughter_h)
    assert unknown.status_code == 404
    for bad in ({"relationship": "boss"}, {"relationship": "child", "scope": "kinds", "kinds": ["x-ray-vision"]},
                {"relationship": "child", "expires_at": "2000-01-01T00:00:00Z"},
                {"relationship": "child", "expires_at": "2099-01-01T00:00:00"}):  # no time zone
        assert client.post(f"/api/v1/people/{father}/invitations", headers=owner_h, json=bad).status_code == 422
    with session_scope(engine, readonly=True) as s:
        assert s.exec(select(Grant)).all() == []

    first = _invite(client, owner_h, father)
    assert client.post(f"/api/v1/invitations/{first['token']}/accept", headers=daughter_h).status_code == 201
    again = client.post(f"/api/v1/invitations/{first['token']}/accept", headers=daughter_h)
    assert again.status_code == 410 and h.code(again) == "invitation-used"
    overlap = _invite(client, owner_h, father)
    res = client.post(f"/api/v1/invitations/{overlap['token']}/accept", headers=daughter_h)
    assert res.status_code == 409 and h.code(res) == "grant-exists"
    with session_scope(engine, readonly=True) as s:
        assert len(s.exec(select(Grant)).all()) == 1

    # without a login nothing is accepted
    assert client.post(f"/api/v1/invitations/{overlap['token']}/accept").status_code == 401


def test_imaging_only_scope_hides_other_kinds(client, engine, settings) -> None:
    _, father, owner, daughter = _world(engine, settings)
    owner_h = h.cookie_headers(engine, settings, owner)
    daughter_h = h.cookie_headers(engine, settings, daughter)
    inv = _invite(client, owner_h, father, scope="kinds", kinds=["lab_result"])
    assert client.post(f"/api/v1/invitations/{inv['token']}/accept", headers=daughter_h).status_code == 201
    page = client.get(f"/api/v1/people/{father}/timeline", headers=daughter_h).json()
    assert page["items"] == [] and page["counts"]["total"] == 0  # the study exists; lab results only were granted
    bundle = client.get(f"/api/v1/people/{father}/export/fhir", headers=daughter_h)
    assert bundle.status_code == 200
    assert not [e for e in bundle.json().get("entry", []) if e["resource"]["resourceType"] == "ImagingStudy"]
    owner_bundle = client.get(f"/api/v1/people/{father}/export/fhir", headers=owner_h).json()
    assert [e for e in owner_bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]
    owner_items = client.get(f"/api/v1/people/{father}/timeline", headers=owner_h).json()["items"]
    assert len(owner_items) == 1
    study_id = owner_items[0]["ref_id"]
    assert client.get(f"/api/v1/people/{father}/studies/{study_id}", headers=owner_h).status_code == 200
    assert client.get(f"/api/v1/people/{father}/studies/{study_id}", headers=daughter_h).status_code == 404
