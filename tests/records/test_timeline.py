"""The timeline: newest first, stable signed cursors, filters and counts, the access policy."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.db import session_scope
from backend.records.models import TimelineEntry
from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, make_study, read_as, register, sent_statements

CST = timezone(timedelta(hours=8))


def _studies(engine: Engine, inst: str, local_id: str, n: int, start_year: int = 2012, **kw: object) -> list[str]:
    root = f"1.2.3.{sum(map(ord, local_id))}"
    return [make_study(engine, institution_id=inst, uid=f"{root}.{i}", local_patient_id=local_id,
                       when=datetime(start_year + i // 4, 1 + (i % 4) * 3, 5, 9, 30, tzinfo=CST), **kw)  # type: ignore[arg-type]
            for i in range(n)]


def _all_pages(client: httpx.Client, url: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        r = client.get(url, params={"limit": 4, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def test_pages_are_newest_first_without_duplicates_or_gaps(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    ids = _studies(engine, inst, "P1", 10)
    read_as(app, engine, person)
    url = f"/api/v1/people/{person}/timeline"
    first = client.get(url, params={"limit": 4}).json()
    assert [i["ref_id"] for i in first["items"]] == ids[::-1][:4]
    assert first["counts"]["total"] == 10 and first["counts"]["by_kind"] == {"imaging_study": 10}
    assert first["counts"]["by_year"] == {"2014": 2, "2013": 4, "2012": 4}
    # Records arriving between pages (newer, and one older than the page boundary) do not shift pages.
    make_study(engine, institution_id=inst, uid="9.9.1", local_patient_id="P1", when=datetime(2026, 1, 1, tzinfo=CST))
    second = client.get(url, params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert second["counts"] is None
    assert [i["ref_id"] for i in second["items"]] == ids[::-1][4:8]
    late = make_study(engine, institution_id=inst, uid="9.9.2", local_patient_id="P1",
                      when=datetime(2011, 1, 1, tzinfo=CST))
    third = client.get(url, params={"limit": 4, "cursor": second["next_cursor"]}).json()
    assert [i["ref_id"] for i in third["items"]] == [*ids[::-1][8:], late]
    assert third["next_cursor"] is None


def test_tampered_or_replayed_cursors_are_400(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    _studies(engine, inst, "P1", 6)
    read_as(app, engine, person)
    url = f"/api/v1/people/{person}/timeline"
    cursor = client.get(url, params={"limit": 2}).json()["next_cursor"]
    body, sig = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"] = "99999999999999999999"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode() + "." + sig
    for bad in [forged, cursor[:-2] + "AA", "garbage", cursor + ".x"]:
        r = client.get(url, params={"cursor": bad})
        assert r.status_code == 400 and r.json()["type"].endswith("invalid-cursor"), bad
    # A valid cursor replayed with other filters is refused too (it would page a different list).
    assert client.get(url, params={"cursor": cursor, "kind": "imaging_study"}).status_code == 400
    assert client.get(url, params={"cursor": cursor}).status_code == 200


def test_filters_by_kind_institution_modality_and_dates(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    first, key1 = hospital(engine, "南京市第一医院")
    second, key2 = hospital(engine, "江苏省人民医院")
    person = register(client, key1, "P1", ZHANG_WEI, "张伟")
    register(client, key2, "Q1", ZHANG_WEI, "张伟")
    ct = _studies(engine, first, "P1", 4, start_year=2015)
    mr = _studies(engine, second, "Q1", 4, start_year=2020, modality="MR", body_part="HEAD")
    read_as(app, engine, person)
    url = f"/api/v1/people/{person}/timeline"

    def refs(**params: str) -> list[str]:
        r = client.get(url, params=params)
        assert r.status_code == 200, r.text
        return [i["ref_id"] for i in r.json()["items"]]

    assert refs(modality="MR") == mr[::-1]
    assert refs(modality="ct") == ct[::-1]
    assert refs(institution=first) == ct[::-1]
    assert refs(kind="imaging_study") == (ct + mr)[::-1]
    assert refs(kind="lab_result") == []
    assert refs(**{"from": "2015-04-01", "to": "2015-07-05"}) == [ct[2], ct[1]]  # 04-05 and 07-05, CST days
    assert client.get(url, params={"kind": "x_ray_magic"}).status_code == 400
    assert client.get(url, params={"modality": "C T'"}).status_code == 400
    assert client.get(url, params={"from": "2020-01-01", "to": "2019-01-01"}).status_code == 400
    names = {i["institution"]["name"] for i in client.get(url).json()["items"]}
    assert names == {"南京市第一医院", "江苏省人民医院"}
    # Year headers count what the filtered list shows; the kind chips count every kind (issue 19 item 2).
    assert client.get(url).json()["counts"]["by_year"] == {"2020": 4, "2015": 4}
    counts = client.get(url, params={"institution": second}).json()["counts"]
    assert counts["by_year"] == {"2020": 4} and counts["by_kind"] == {"imaging_study": 4}
    counts = client.get(url, params={"kind": "lab_result"}).json()["counts"]
    assert counts["by_year"] == {} and counts["by_kind"] == {"imaging_study": 8}


def test_unmatched_records_join_when_the_hospital_registers(client: httpx.Client, app: FastAPI,
                                                            engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    ids = _studies(engine, inst, "LATE-1", 3)
    with session_scope(engine) as s:
        rows = s.exec(select(TimelineEntry).where(TimelineEntry.local_patient_id == "LATE-1")).all()
        assert len(rows) == 3 and all(r.person_id is None for r in rows)
    person = register(client, key, "LATE-1", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    assert {i["ref_id"] for i in client.get(f"/api/v1/people/{person}/timeline").json()["items"]} == set(ids)


def test_other_people_and_strangers_see_nothing(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    me = register(client, key, "P1", ZHANG_WEI, "张伟")
    her = register(client, key, "P2", WANG_FANG, "王芳")
    _studies(engine, inst, "P2", 2)
    read_as(app, engine, me)
    assert client.get(f"/api/v1/people/{me}/timeline").json()["items"] == []
    assert client.get(f"/api/v1/people/{her}/timeline").status_code == 404
    app.dependency_overrides.clear()
    assert client.get(f"/api/v1/people/{me}/timeline").status_code == 404
    with session_scope(engine) as s:
        reads = s.exec(select(AuditEvent).where(AuditEvent.event_type == "timeline.read")).all()
    assert [r.person_id for r in reads] == [me]


def test_a_timeline_read_asks_no_more_than_it_needs(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    """Issue 18: the timeline is the busiest read, and each statement is a round trip and ORM work. An
    account's access decision proves the person exists (its binding's foreign key), so the person row is
    not read again; hospital names come from the process's cache after the first page."""
    from backend.institutions import names

    names.forget()
    inst, key = hospital(engine, "南京市鼓楼医院")
    person = register(client, key, "P9", ZHANG_WEI, "张伟")
    _studies(engine, inst, "P9", 3)
    read_as(app, engine, person)
    with sent_statements(engine) as statements:
        pages = [client.get(f"/api/v1/people/{person}/timeline") for _ in range(2)]
    assert [p.status_code for p in pages] == [200, 200]
    assert {i["institution"]["name"] for p in pages for i in p.json()["items"]} == {"南京市鼓楼医院"}
    assert not any("from person " in s or s.endswith("from person") for s in statements), statements
    assert sum("from institution " in s for s in statements) == 1, statements  # the first page only


def test_an_unknown_person_is_still_not_found_for_an_account(
        client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    """The person check now rests on the decision's own row for accounts: an id with no binding or grant
    is 404 exactly as before."""
    _inst, key = hospital(engine, "南京市第二医院")
    person = register(client, key, "P8", ZHANG_WEI, "张伟")
    read_as(app, engine, person)
    assert client.get("/api/v1/people/00000000000000000000000000000000/timeline").status_code == 404
    assert client.get(f"/api/v1/people/{person}/timeline").status_code == 200
