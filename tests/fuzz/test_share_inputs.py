"""Share bodies are untrusted numbers and dates: an expiry past what a timedelta can hold (about 8.6e13 s)
is out of range like any other (400), and a date range ending on 9999-12-31 is a range, not an
OverflowError 500 from the day after it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from backend.config import Settings
from tests.sharing.world import build

HUGE = [10**14, 10**20, 2**63]


@pytest.mark.parametrize("seconds", HUGE)
def test_create_with_an_enormous_expiry_is_400(client: httpx.Client, engine: Engine, settings: Settings,
                                                 seconds: int) -> None:
    world: Any = build(client, engine, settings)
    made = world.create(expires_in=seconds, status=400)
    assert made["type"].endswith("/share-expiry-range")


def test_extend_with_an_enormous_expiry_is_400_and_keeps_the_share(client: httpx.Client, engine: Engine,
                                                                     settings: Settings) -> None:
    world: Any = build(client, engine, settings)
    made = world.create(expires_in="24h")
    for seconds in HUGE:
        res = client.post(f"/api/v1/shares/{made['id']}/extend", json={"expires_in": seconds},
                          headers=world.owner_headers())
        assert res.status_code == 400, res.text[:300]
        assert res.headers["content-type"].startswith("application/problem+json")
    listed = client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()["items"]
    [share] = [s for s in listed if s["id"] == made["id"]]
    assert share["expires_at"] == made["expires_at"]


@pytest.mark.parametrize("bounds", [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01", "date_to": "9999-12-31"},
                                    {"date_from": "9999-12-31"}, {"date_from": "0001-01-01"}])
def test_date_range_at_the_calendar_edges(client: httpx.Client, engine: Engine, settings: Settings,
                                          bounds: dict[str, str]) -> None:
    world: Any = build(client, engine, settings)
    res = client.post(f"/api/v1/people/{world.person_id}/shares", json={"all": True, **bounds},
                      headers=world.owner_headers())
    assert res.status_code in (201, 422), res.text[:300]  # 422: no study in that range
    assert res.status_code == 201 or res.headers["content-type"].startswith("application/problem+json")
    if "9999" not in bounds.get("date_from", ""):
        assert res.status_code == 201, res.text[:300]
