"""The patient's side: create (scope, expiry, code, QR), who may share, list, revoke, extend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.crypto import lookup_digest
from backend.db import session_scope
from backend.sharing.models import Share, ShareStudy
from tests.family import helpers as h
from tests.sharing.conftest import browser
from tests.sharing.world import ShareWorld, open_share, token_of


def _share_row(world: ShareWorld, share_id: str) -> Share:
    with session_scope(world.engine, readonly=True) as s:
        row = s.get(Share, share_id)
        assert row is not None
        s.expunge(row)
        return row


def test_create_answers_url_code_qr_and_stores_only_digests(world: ShareWorld) -> None:
    made = world.create(with_access_code=True, expires_in="72h", max_opens=3, allow_download=True)
    token = token_of(made["url"])
    assert made["url"] == f"http://testserver/s/{token}"
    assert len(token) >= len("yys_") + 32  # 192 random bits, base64url
    code = made["access_code"]
    assert len(code) == 6 and code.isdigit()
    assert made["qr_svg"].lstrip().startswith("<svg") and made["qr_png"].startswith("data:image/png;base64,")
    expires = datetime.fromisoformat(made["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=71, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=72)
    row = _share_row(world, made["id"])
    assert row.token_digest == lookup_digest(token)
    assert row.code_hash and code not in row.code_hash and row.code_hash.startswith("$argon2")
    with session_scope(world.engine, readonly=True) as s:
        events = s.exec(select(AuditEvent)).all()
        assert not [e for e in events if token in (e.detail or "") or token in (e.object_id or "")]
        assert [e for e in events if e.event_type == "share.create" and e.object_id == made["id"]]


def test_expiry_presets_and_custom_limits(world: ShareWorld) -> None:
    assert world.create(expires_in=3600)["id"]
    world.create(expires_in=31 * 86400, status=400)
    world.create(expires_in=60, status=400)
    world.create(expires_in="2w", status=422)


def test_scope_validation(world: ShareWorld) -> None:
    world.create(study_ids=[world.studies["other"]], status=404)  # another person's study
    world.create(study_ids=[], status=400)
    world.create(study_ids=[world.studies["a"]], all=True, status=400)


def test_all_imaging_in_a_date_range(world: ShareWorld) -> None:
    everything = world.create(study_ids=None, all=True)
    assert sorted(everything["study_ids"]) == sorted([world.studies["a"], world.studies["b"]])
    # Both CT copies carry the fixture's 2003 study date: a range elsewhere is empty (422), around it both.
    world.create(study_ids=None, all=True, date_from="2020-01-01", date_to="2021-01-01", status=422)
    both = world.create(study_ids=None, all=True, date_from=date(2003, 1, 1).isoformat(), date_to="2003-12-31")
    assert len(both["study_ids"]) == 2


def test_who_may_share(world: ShareWorld) -> None:
    pid = world.person_id
    body = {"study_ids": [world.studies["a"]]}
    stranger = world.headers_of(world.stranger)
    assert world.client.post(f"/api/v1/people/{pid}/shares", json=body, headers=stranger).status_code == 404
    assert world.client.post(f"/api/v1/people/{pid}/shares", json=body).status_code == 404  # anonymous
    viewer = h.account(world.engine, "share-viewer")
    h.grant(world.engine, person_id=pid, account_id=viewer, may_share=False)
    res = world.client.post(f"/api/v1/people/{pid}/shares", json=body, headers=world.headers_of(viewer))
    assert res.status_code == 403 and h.code(res) == "share-not-allowed"
    sharer = h.account(world.engine, "share-proxy")
    h.grant(world.engine, person_id=pid, account_id=sharer, may_share=True)
    res = world.client.post(f"/api/v1/people/{pid}/shares", json=body, headers=world.headers_of(sharer))
    assert res.status_code == 201, res.text
    # the proxy manages it; the viewer-only relative and a stranger do not even see it
    share_id = res.json()["id"]
    assert world.client.delete(f"/api/v1/shares/{share_id}", headers=world.headers_of(viewer)).status_code == 404
    assert world.client.delete(f"/api/v1/shares/{share_id}", headers=stranger).status_code == 404
    assert world.client.delete(f"/api/v1/shares/{share_id}", headers=world.headers_of(sharer)).status_code == 204


def test_list_revoke_extend_and_trace(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(note="门诊对比")
    open_share(doctor, token_of(made['url']), headers={"User-Agent": "DoctorBrowser/1.0"})
    doctor.get(f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}")
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers())
    assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
    item = next(i for i in listed.json()["items"] if i["id"] == made["id"])
    assert item["status"] == "active" and item["opens"] == 1 and item["note"] == "门诊对比"
    assert item["open_log"][0]["user_agent"] == "DoctorBrowser/1.0"
    viewed = {(v["event_type"], v["object_id"]) for v in item["views"]}
    assert ("share.open", made["id"]) in viewed and ("study.read", world.studies["a"]) in viewed

    res = world.client.delete(f"/api/v1/shares/{made['id']}", headers=world.owner_headers())
    assert res.status_code == 204
    res = world.client.post(f"/api/v1/shares/{made['id']}/extend", json={"expires_in": "7d"},
                            headers=world.owner_headers())
    assert res.status_code == 403
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    assert next(i for i in listed["items"] if i["id"] == made["id"])["status"] == "revoked"


def test_extend_an_expired_share(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(expires_in="1h")
    with session_scope(world.engine) as s:
        row = s.get(Share, made["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.add(row)
    assert doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False).status_code == 410
    res = world.client.post(f"/api/v1/shares/{made['id']}/extend", json={"expires_in": "24h"},
                            headers=world.owner_headers())
    assert res.status_code == 200 and res.json()["status"] == "active"
    assert open_share(doctor, token_of(made['url'])).status_code == 303


def test_study_list_is_fixed_at_creation(world: ShareWorld) -> None:
    made = world.create(study_ids=None, all=True)
    with session_scope(world.engine, readonly=True) as s:
        rows = s.exec(select(ShareStudy.study_id).where(ShareStudy.share_id == made["id"])).all()
    assert sorted(rows) == sorted(made["study_ids"])


def test_extend_raises_the_open_limit_of_a_used_up_share(world: ShareWorld, client: TestClient) -> None:
    made = world.create(max_opens=1)
    token = token_of(made["url"])
    with browser(client.app) as first:
        assert open_share(first, token).status_code == 303
    with browser(client.app) as second:
        assert second.get(f"/s/{token}", follow_redirects=False).status_code == 410
        url = f"/api/v1/shares/{made['id']}/extend"
        res = client.post(url, json={"expires_in": "24h", "max_opens": 1}, headers=world.owner_headers())
        assert res.status_code == 400
        res = client.post(url, json={"expires_in": "24h", "max_opens": 2}, headers=world.owner_headers())
        assert res.status_code == 200 and res.json()["max_opens"] == 2
        assert open_share(second, token).status_code == 303


def test_link_again_and_reset_code_only_for_the_sharer(world: ShareWorld, doctor: TestClient) -> None:
    """Issue 19 item 3, attack first: a stranger (another person's account), the doctor's share session and
    no session at all get 404 for someone's share link and code; the sharer gets the same link and QR
    again (kept as ciphertext, never in the clear), and a new code that replaces the old one at once."""
    made = world.create(with_access_code=True, recipient=" 鼓楼医院 王医生 ")
    link, reset = f"/api/v1/shares/{made['id']}/link", f"/api/v1/shares/{made['id']}/access-code"
    stranger = world.headers_of(world.stranger)
    assert world.client.get(link, headers=stranger).status_code == 404
    assert world.client.post(reset, headers=stranger).status_code == 404
    assert world.client.get(link).status_code == 404  # no session: the same 404
    opened = doctor.post(f"/s/{token_of(made['url'])}/session", json={"access_code": made["access_code"]})
    assert opened.status_code == 200
    assert doctor.get(link).status_code == 404 and doctor.post(reset).status_code in (403, 404)
    row = _share_row(world, made["id"])
    token = token_of(made["url"])
    assert row.recipient == "鼓楼医院 王医生" and row.token_cipher and token.encode() not in row.token_cipher

    again = world.client.get(link, headers=world.owner_headers())
    assert again.status_code == 200 and again.json()["url"] == made["url"]
    assert again.headers["Cache-Control"] == "no-store" and "access_code" not in again.json()
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    assert (listed["items"][0]["recipient"], listed["items"][0]["can_show_link"]) == ("鼓楼医院 王医生", True)

    new = world.client.post(reset, headers=world.owner_headers()).json()["access_code"]
    assert len(new) == 6 and new.isdigit()
    fresh = TestClient(world.client.app)
    if new != made["access_code"]:
        assert fresh.post(f"/s/{token}/session", json={"access_code": made["access_code"]}).status_code == 403
    assert fresh.post(f"/s/{token}/session", json={"access_code": new}).status_code == 200
    with session_scope(world.engine, readonly=True) as s:
        kinds = {e.event_type for e in s.exec(select(AuditEvent).where(AuditEvent.object_id == made["id"])).all()}
    assert {"share.link.read", "share.code.reset"} <= kinds
    # The access history names the visit by its recipient and shows the wrong code typed.
    log = world.client.get(f"/api/v1/people/{world.person_id}/access-log", headers=world.owner_headers()).json()
    wrong = [i for i in log["items"] if i["event_type"] == "share.code_failed"]
    assert wrong and wrong[0]["actor"]["kind"] == "share" and wrong[0]["actor"]["recipient"] == "鼓楼医院 王医生"
    assert wrong[0]["action_label"] == "输错了访问码" and "鼓楼医院 王医生" in wrong[0]["actor"]["display"]

    assert world.client.delete(f"/api/v1/shares/{made['id']}", headers=world.owner_headers()).status_code == 204
    assert world.client.get(link, headers=world.owner_headers()).status_code == 403  # ended: nothing to show
    assert world.client.post(reset, headers=world.owner_headers()).status_code == 403
