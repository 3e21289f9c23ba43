"""Delegation limits, who is told about new records, a guardian managing a child's grants, and the
digest command."""

from __future__ import annotations

import os
import subprocess
import sys

from backend.access.service import accounts_for_person
from backend.db import session_scope
from backend.family.models import GUARDIAN
from tests.family import helpers as h

FATHER_RID = "320106196203150013"


def test_may_grant_proxy_invites_no_wider_than_it_holds(client, engine, settings) -> None:
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    daughter = h.account(engine, "o-daughter")
    h.grant(engine, person_id=father, account_id=daughter, scope="imaging", may_grant=True)
    daughter_h = h.cookie_headers(engine, settings, daughter)
    url = f"/api/v1/people/{father}/invitations"
    for wider in ({"relationship": "other"}, {"relationship": "other", "scope": "kinds", "kinds": ["lab_result"]},
                  {"relationship": "other", "scope": "imaging", "may_share": True},
                  {"relationship": "other", "scope": "imaging", "may_grant": True}):
        res = client.post(url, headers=daughter_h, json=wider)
        assert res.status_code == 403 and h.code(res) == "grant-too-wide", wider
    res = client.post(url, headers=daughter_h, json={"relationship": "other", "scope": "imaging"})
    assert res.status_code == 201
    grandson_h = h.cookie_headers(engine, settings, h.account(engine, "o-grandson"))
    grant = client.post(f"/api/v1/invitations/{res.json()['token']}/accept", headers=grandson_h).json()
    assert grant["scope"] == "imaging" and grant["consent"]["account_id"] == daughter


def test_new_record_notices_follow_scope(engine, settings) -> None:
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    owner = h.account(engine, "o-owner", bind_to=father)
    everything = h.account(engine, "o-all")
    labs_only = h.account(engine, "o-labs")
    gone = h.account(engine, "o-gone")
    h.grant(engine, person_id=father, account_id=everything, relationship="spouse")
    h.grant(engine, person_id=father, account_id=labs_only, scope="kinds", kinds="lab_result")
    h.grant(engine, person_id=father, account_id=gone, status="revoked")
    with session_scope(engine, readonly=True) as s:
        assert {a for a, _ in accounts_for_person(session=s, person_id=father)} == {owner, everything}
        labs = accounts_for_person(session=s, person_id=father, kind="lab_result")
        assert {a for a, _ in labs} == {owner, everything, labs_only}
        imaging = accounts_for_person(session=s, person_id=father, kind="imaging_study")
        assert dict(imaging) == {owner: "self", everything: "spouse"}


def test_guardian_manages_the_childs_grants(client, engine, settings) -> None:
    inst = h.hospital(engine)
    born = h.years_ago(8)
    child = h.person(engine, settings, inst, local_id="C1", resident_id=h.rid_for(born, sequence=31), name="张小宝")
    mother = h.account(engine, "o-mother")
    h.grant(engine, person_id=child, account_id=mother, relationship="parent", kind=GUARDIAN, ward_birth_date=born)
    aunt = h.account(engine, "o-aunt")
    aunt_grant = h.grant(engine, person_id=child, account_id=aunt, relationship="other")
    mother_h, aunt_h = h.cookie_headers(engine, settings, mother), h.cookie_headers(engine, settings, aunt)
    assert len(client.get(f"/api/v1/people/{child}/grants", headers=mother_h).json()) == 2
    assert len(client.get(f"/api/v1/people/{child}/grants", headers=aunt_h).json()) == 1  # her own only
    assert client.get(f"/api/v1/people/{child}/access-log", headers=aunt_h).status_code == 404
    assert client.delete(f"/api/v1/grants/{aunt_grant}", headers=mother_h).status_code == 204
    assert h.grant_row(engine, aunt_grant).status == "revoked"
    assert client.get(f"/api/v1/people/{child}/timeline", headers=aunt_h).status_code == 404


def test_too_many_requests_are_refused(client, engine, settings) -> None:
    asker_h = h.cookie_headers(engine, settings, h.account(engine, "o-asker"))
    body = {"name": "某人", "resident_id": FATHER_RID, "relationship": "other"}
    codes = [client.post("/api/v1/grant-requests", headers=asker_h, json=body).status_code for _ in range(11)]
    assert codes == [202] * 10 + [429]


def test_digest_command(settings, engine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")}
    env.update(YUNYING_DATA_DIR=str(settings.data_dir), YUNYING_DATABASE_URL=settings.effective_database_url,
               YUNYING_SECRET_KEY=settings.secret_key or "", YUNYING_ENCRYPTION_KEY=settings.encryption_key or "",
               YUNYING_BLIND_INDEX_KEY=settings.blind_index_key or "")
    run = [sys.executable, "-m", "backend.cli", "family", "digest"]
    ok = subprocess.run([*run, "--day", "2024-03-01"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "digest notices queued: 0" in ok.stdout, ok.stderr
    bad = subprocess.run([*run, "--day", "yesterday"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_only_a_may_share_proxy_shares_and_the_log_names_the_doctor(client, engine, settings) -> None:
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    study_id = h.study(engine, inst, local_id="P1", uid="1.2.826.0.6.1")
    owner_h = h.cookie_headers(engine, settings, h.account(engine, "o-owner", bind_to=father))
    plain, sharer = h.account(engine, "o-plain"), h.account(engine, "o-sharer")
    h.grant(engine, person_id=father, account_id=plain)
    h.grant(engine, person_id=father, account_id=sharer, may_share=True)
    body = {"study_ids": [study_id], "expires_in": "24h"}
    url = f"/api/v1/people/{father}/shares"
    assert client.post(url, headers=h.cookie_headers(engine, settings, plain), json=body).status_code == 403
    made = client.post(url, headers=h.cookie_headers(engine, settings, sharer), json=body)
    assert made.status_code == 201, made.text
    token = made.json()["url"].rsplit("/", 1)[-1]
    client.cookies.clear()
    opened = client.post(f"/s/{token}/session", json={})
    assert opened.status_code == 200
    doctor = {"Cookie": f"yy_share={opened.cookies.get('yy_share')}"}
    client.cookies.clear()
    assert client.get(f"/api/v1/people/{father}/studies/{study_id}", headers=doctor).status_code == 200
    log = client.get(f"/api/v1/people/{father}/access-log", headers=owner_h).json()["items"]
    doctor_reads = [i for i in log if i["via"] == "share" and i["event_type"] == "study.read"]
    assert doctor_reads and doctor_reads[0]["actor"]["kind"] == "share"
    assert doctor_reads[0]["actor"]["display"].startswith("医生（分享 #")
    assert doctor_reads[0]["via_share_id"] == made.json()["id"]


def test_the_database_refuses_overlapping_live_grants(engine, settings) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    son = h.account(engine, "o-son")
    first = h.grant(engine, person_id=father, account_id=son)
    with pytest.raises(IntegrityError):
        h.grant(engine, person_id=father, account_id=son, kind="request", status="pending")
    with session_scope(engine) as s:
        from backend.family.models import Grant

        row = s.get(Grant, first)
        assert row is not None
        row.status = "revoked"
        s.add(row)
    assert h.grant(engine, person_id=father, account_id=son, kind="request", status="pending")


def test_a_racing_second_grant_is_a_conflict_not_a_500(engine, settings) -> None:
    import pytest

    from backend.errors import Conflict
    from backend.family import service

    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    son = h.account(engine, "o-son")
    h.grant(engine, person_id=father, account_id=son)  # the winner, committed meanwhile
    with session_scope(engine) as s, pytest.raises(Conflict):  # the loser skipped the early check
        service.new_grant(s, person_id=father, account_id=son, terms=service.Terms(relationship="child"),
                          kinds=None, kind="invitation", status="active", created_by=son)
