"""Issue 15 item 4: no oracle in identity codes, and no lock-out of the person targeted.

The review saw three different answers from ``POST /api/v1/me/binding/otp`` (and the elder-proxy code
request) for a registered resident ID with the right name, with a wrong name, and an unregistered
one — the real masked phone against two different decoys — leaking registration, the name and 7 of
11 phone digits. And 4 wrong-name requests from throwaway accounts locked the real owner out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from backend.people.resident_id import generate_resident_id
from tests.family import helpers as h

WANG_RID = "320102198503120020"
UNKNOWN_RID = generate_resident_id(region_code="110101", birth_date=date(1990, 1, 1), sex="M", sequence=7)
ELDER_RID = generate_resident_id(region_code="320106", birth_date=date(1940, 5, 5), sex="F", sequence=9)


@pytest.fixture
def registered(engine: Any, settings: Any) -> None:
    inst = h.hospital(engine)
    h.person(engine, settings, inst, local_id="W-1", resident_id=WANG_RID, name="王芳", phone="13800138000")
    h.person(engine, settings, inst, local_id="E-1", resident_id=ELDER_RID, name="陈秀英", phone="13900000077")


def _ask(client: Any, engine: Any, settings: Any, path: str, body: dict[str, str], openid: str) -> Any:
    account = h.account(engine, openid)
    return client.post(path, json=body, headers=h.cookie_headers(engine, settings, account))


@pytest.mark.parametrize(("path", "rid", "name"), [
    ("/api/v1/me/binding/otp", WANG_RID, "王芳"),
    ("/api/v1/elder-proxies/otp", ELDER_RID, "陈秀英"),
])
@pytest.mark.usefixtures("registered")
def test_the_same_answer_for_every_input(client: Any, engine: Any, settings: Any, path: str, rid: str,
                                         name: str) -> None:
    answers = [
        _ask(client, engine, settings, path, {"name": name, "resident_id": rid}, "o-right"),
        _ask(client, engine, settings, path, {"name": "李四", "resident_id": rid}, "o-wrong-name"),
        _ask(client, engine, settings, path, {"name": "李四", "resident_id": UNKNOWN_RID}, "o-unknown"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert answers[0].headers["content-type"] == answers[2].headers["content-type"]
    body = answers[0].text
    assert "*" not in body and not any(fragment in body for fragment in ("138", "8000", "139", "0077"))


@pytest.mark.usefixtures("registered")
def test_throwaway_accounts_cannot_lock_the_owner_out(client: Any, engine: Any, settings: Any) -> None:
    for n in range(6):
        res = _ask(client, engine, settings, "/api/v1/me/binding/otp", {"name": f"冒名{n}", "resident_id": WANG_RID},
                   f"o-throwaway-{n}")
        assert res.status_code == 200, res.text
    owner = _ask(client, engine, settings, "/api/v1/me/binding/otp", {"name": "王芳", "resident_id": WANG_RID},
                 "o-owner")
    assert owner.status_code == 200, owner.text
    assert h.last_sms(client, "13800138000")["code"]


@pytest.mark.usefixtures("registered")
def test_limits_are_per_requesting_account(client: Any, engine: Any, settings: Any) -> None:
    account = h.account(engine, "o-greedy")
    headers = h.cookie_headers(engine, settings, account)
    statuses = [client.post("/api/v1/me/binding/otp", json={"name": "王芳", "resident_id": WANG_RID},
                            headers=headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
