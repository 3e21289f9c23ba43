"""Identity binding over real HTTP: OTP by (simulated) SMS, consent, no oracle, lockout, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import httpx
import pytest
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.auth.demo import seed_wechat
from backend.auth.models import Binding, Consent
from backend.db import session_scope
from backend.people.resident_id import generate_resident_id
from tests.auth.helpers import csrf_headers, login

pytestmark = pytest.mark.live
WANG = {"name": "王芳", "resident_id": "320102198503120020"}


@contextmanager
def _browser(url: str, openid: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        assert login(client, openid=openid).status_code == 302
        yield client


def _sms(browser: httpx.Client, phone: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in browser.get("/_sim/wechat/inbox").json() if e["kind"] == "sms" and e["to"] == phone]


@pytest.fixture
def demo_server(settings, engine, live_server):  # type: ignore[no-untyped-def]
    seed_wechat(settings=settings, engine=engine)
    return live_server


def test_bind_with_otp_and_consent(demo_server, engine) -> None:  # type: ignore[no-untyped-def]
    with _browser(demo_server.url, "demo-new") as browser:
        h = csrf_headers(browser)
        assert browser.post("/api/v1/me/binding/otp", json=WANG).status_code == 403  # no CSRF header
        sent = browser.post("/api/v1/me/binding/otp", json=WANG, headers=h)
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"expires_in": 600}  # no phone digits before proof
        inbox = _sms(browser, "13800138000")
        assert len(inbox) == 1 and inbox[0]["code"] in inbox[0]["text"] and len(inbox[0]["code"]) == 6
        code = inbox[0]["code"]
        consent = browser.get("/api/v1/me").json()["consent_version"]

        outdated = browser.post("/api/v1/me/binding", json={**WANG, "otp": code, "consent_version": "1999"}, headers=h)
        assert outdated.status_code == 422 and outdated.json()["type"].endswith("consent-required")
        wrong = "000000" if code != "000000" else "111111"
        bad = browser.post("/api/v1/me/binding", json={**WANG, "otp": wrong, "consent_version": consent}, headers=h)
        assert bad.status_code == 400 and bad.json()["attempts_left"] == 4
        ok = browser.post("/api/v1/me/binding", json={**WANG, "otp": code, "consent_version": consent}, headers=h)
        assert ok.status_code == 201, ok.text

        me = browser.get("/api/v1/me").json()
        assert me["bound"] is True and me["person"]["name"] == "王*"
        assert me["people"] == [me["person"]] and me["people"][0]["relation"] == "self"
        consents = browser.get("/api/v1/me/consents").json()
        assert consents[0]["policy_version"] == consent and consents[0]["withdrawn_at"] is None
        # The code is spent: binding again is refused.
        again = browser.post("/api/v1/me/binding", json={**WANG, "otp": code, "consent_version": consent}, headers=h)
        assert again.status_code in (400, 409)

        # Withdrawal ends the binding on the next request.
        assert browser.delete("/api/v1/me/binding", headers=h).status_code == 204
        assert browser.get("/api/v1/me").json()["bound"] is False
    with session_scope(engine, readonly=True) as session:
        types = set(session.exec(select(AuditEvent.event_type)).all())
        assert {"binding.otp", "binding.create", "consent.grant", "consent.withdraw", "binding.revoke"} <= types
        consent_rows = session.exec(select(Consent)).all()  # the demo patient's, and ours (withdrawn)
        assert sorted(c.withdrawn_at is None for c in consent_rows) == [False, True]
        assert sorted(b.revoked_at is None for b in session.exec(select(Binding)).all()) == [False, True]


def test_no_oracle_for_unknown_resident_id(demo_server) -> None:  # type: ignore[no-untyped-def]
    unknown = generate_resident_id(region_code="110101", birth_date=date(1990, 1, 1), sex="M", sequence=7)
    with _browser(demo_server.url, "demo-relative") as browser:
        h = csrf_headers(browser)
        before = len(browser.get("/_sim/wechat/inbox").json())
        first = browser.post("/api/v1/me/binding/otp", json={"name": "李四", "resident_id": unknown}, headers=h)
        second = browser.post("/api/v1/me/binding/otp", json={"name": "李四", "resident_id": unknown}, headers=h)
        wrong_name = browser.post(
            "/api/v1/me/binding/otp", json={"name": "李四", "resident_id": WANG["resident_id"]}, headers=h
        )
        for res in (first, second, wrong_name):
            assert res.status_code == 200 and res.json() == {"expires_in": 600}
        assert len(browser.get("/_sim/wechat/inbox").json()) == before  # no SMS went anywhere
        guess = {"name": "李四", "resident_id": unknown, "otp": "123456", "consent_version": "2026-11"}
        rejected = browser.post("/api/v1/me/binding", headers=h, json=guess)
        assert rejected.status_code == 400


def test_otp_lockout_after_five_attempts(demo_server) -> None:  # type: ignore[no-untyped-def]
    with _browser(demo_server.url, "lockout-user") as browser:
        h = csrf_headers(browser)
        assert browser.post("/api/v1/me/binding/otp", json=WANG, headers=h).status_code == 200
        code = _sms(browser, "13800138000")[0]["code"]
        wrong = "000000" if code != "000000" else "111111"
        body = {**WANG, "consent_version": "2026-11"}
        statuses = [browser.post("/api/v1/me/binding", json={**body, "otp": wrong}, headers=h).status_code
                    for _ in range(5)]
        assert statuses == [400, 400, 400, 400, 429]
        locked = browser.post("/api/v1/me/binding", json={**body, "otp": code}, headers=h)
        assert locked.status_code == 429 and locked.json()["type"].endswith("otp-locked")


def test_bad_binding_input(demo_server) -> None:  # type: ignore[no-untyped-def]
    child = generate_resident_id(region_code="320102", birth_date=date(2018, 6, 1), sex="F", sequence=3)
    with _browser(demo_server.url, "bad-input-user") as browser:
        h = csrf_headers(browser)
        for rid in ("32010219850312002X", "12345", "320102198513120020"):
            res = browser.post("/api/v1/me/binding/otp", json={"name": "王芳", "resident_id": rid}, headers=h)
            assert res.status_code == 422, (rid, res.text)
            assert res.headers["content-type"].startswith("application/problem+json")
        minor = browser.post("/api/v1/me/binding/otp", json={"name": "小明", "resident_id": child}, headers=h)
        assert minor.status_code == 403 and minor.json()["type"].endswith("guardian-required")
        malformed = browser.post("/api/v1/me/binding", headers=h,
                                 json={**WANG, "otp": "12ab56", "consent_version": "2026-11"})
        assert malformed.status_code == 422
    anonymous = httpx.post(f"{demo_server.url}/api/v1/me/binding/otp", json=WANG)
    assert anonymous.status_code == 401


def test_demo_patient_is_bound(demo_server) -> None:  # type: ignore[no-untyped-def]
    with _browser(demo_server.url, "demo-patient") as browser:
        me = browser.get("/api/v1/me").json()
        assert me["bound"] is True and me["person"]["name"] == "张*" and me["person"]["birth_year"] == 1962
    page = httpx.get(f"{demo_server.url}/_sim/wechat/connect/oauth2/authorize",
                     params={"appid": "wx-yunying-dev", "redirect_uri": f"{demo_server.url}/auth/wechat/callback",
                             "response_type": "code", "scope": "snsapi_base", "state": "x"})
    assert all(openid in page.text for openid in ("demo-patient", "demo-relative", "demo-new"))
