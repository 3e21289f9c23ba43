"""Issue 15 item 3: a share never outlives its creator's authority.

The review saw a relative's share keep working — downloads of every study included — after the
patient revoked the relative's grant, and a patient's shares keep working after they unbound
(consent withdrawn). Every request through a share must re-check that its creator may still share
what it covers.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.family import helpers as h
from tests.sharing.world import ShareWorld, token_of

DICOM_ACCEPT = {"Accept": 'multipart/related; type="application/dicom"'}


def _open(doctor: TestClient, url: str) -> None:
    res = doctor.post(f"/s/{token_of(url)}/session", json={})
    assert res.status_code == 200, res.text


def _doctor_reads(world: ShareWorld, doctor: TestClient) -> dict[str, int]:
    study = world.studies["a"]
    return {
        "session": doctor.get("/api/v1/share/session").status_code,
        "study": doctor.get(f"/api/v1/people/{world.person_id}/studies/{study}").status_code,
        "zip": doctor.get("/api/v1/share/download.zip").status_code,
        "wado": doctor.get(f"/dicomweb/studies/{world.uids['a']}", headers=DICOM_ACCEPT).status_code,
        "qido": len(doctor.get("/dicomweb/studies").json() or []) if doctor.get("/dicomweb/studies").status_code == 200
        else -1,
    }


def _relative(world: ShareWorld, openid: str, **grant: Any) -> tuple[str, str]:
    account = h.account(world.engine, openid)
    grant_id = h.grant(world.engine, person_id=world.person_id, account_id=account, **grant)
    return account, grant_id


def test_revoking_the_relatives_grant_ends_the_relatives_shares(world: ShareWorld, doctor: TestClient) -> None:
    relative, grant_id = _relative(world, "share-daughter", may_share=True)
    made = world.create(allow_download=True, headers=world.headers_of(relative))
    _open(doctor, made["url"])
    before = _doctor_reads(world, doctor)
    assert before["session"] == 200 and before["study"] == 200 and before["zip"] == 200 and before["wado"] == 200
    assert before["qido"] == 1
    revoked = world.client.delete(f"/api/v1/grants/{grant_id}", headers=world.owner_headers())
    assert revoked.status_code == 204, revoked.text
    after = _doctor_reads(world, doctor)
    assert after["study"] == 404 and after["wado"] in (401, 404) and after["qido"] in (0, -1)
    assert after["session"] in (401, 410) and after["zip"] in (401, 403, 410)
    # A new open of the link is refused too.
    again = doctor.post(f"/s/{token_of(made['url'])}/session", json={})
    assert again.status_code == 410, again.text


def test_unbinding_ends_the_patients_shares_for_good(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(allow_download=True)
    _open(doctor, made["url"])
    assert _doctor_reads(world, doctor)["study"] == 200
    unbound = world.client.delete("/api/v1/me/binding", headers=world.owner_headers())
    assert unbound.status_code == 204, unbound.text
    after = _doctor_reads(world, doctor)
    assert after["study"] == 404 and after["wado"] in (401, 404) and after["qido"] in (0, -1)
    # Binding again is a new consent: the old share stays ended.
    h.bind(world.engine, world.owner, world.person_id)
    assert _doctor_reads(world, doctor)["study"] == 404
    assert doctor.post(f"/s/{token_of(made['url'])}/session", json={}).status_code == 410
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    assert [s["status"] for s in listed["items"]] == ["revoked"]


def test_an_expired_grant_ends_the_share_on_the_next_request(world: ShareWorld, doctor: TestClient) -> None:
    from datetime import timedelta

    from backend.clock import utcnow
    from backend.db import session_scope
    from backend.family.models import Grant

    relative, grant_id = _relative(world, "share-son", may_share=True)
    made = world.create(headers=world.headers_of(relative))
    _open(doctor, made["url"])
    assert _doctor_reads(world, doctor)["study"] == 200
    with session_scope(world.engine) as s:
        row = s.get(Grant, grant_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert _doctor_reads(world, doctor)["study"] == 404


def test_a_lab_only_relative_neither_lists_nor_revokes_imaging_shares(world: ShareWorld) -> None:
    relative, _ = _relative(world, "share-labs-only", may_share=True, scope="kinds", kinds="lab_result")
    made = world.create()  # the patient's own imaging share
    headers = world.headers_of(relative)
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=headers)
    assert listed.status_code == 403, listed.text
    revoke = world.client.delete(f"/api/v1/shares/{made['id']}", headers=headers)
    assert revoke.status_code == 404
    extend = world.client.post(f"/api/v1/shares/{made['id']}/extend", json={"expires_in": "24h"}, headers=headers)
    assert extend.status_code == 404
    create = world.client.post(f"/api/v1/people/{world.person_id}/shares", headers=headers,
                               json={"all": True, "expires_in": "24h"})
    assert create.status_code == 403
