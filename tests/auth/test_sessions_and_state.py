"""Pure and in-process checks: JWT pinning, state cookies, open redirects, XML guards, shared state."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta

import pytest
from jose import jwt
from sqlmodel import func, select

from backend.auth import oauth, sessions
from backend.auth.models import RateEvent
from backend.clock import utcnow
from backend.config import Settings
from backend.db import session_scope
from backend.errors import BadRequest, Forbidden, PayloadTooLarge
from backend.shared_state import DatabaseState, RedisState, SharedState, SharedStateUnavailable
from backend.wechat import messages
from tests.conftest import free_port


def _claims(settings: Settings) -> dict[str, object]:
    now = int(time.time())
    return {"iss": settings.public_url, "aud": sessions.AUDIENCE, "sub": "a", "sid": "s", "iat": now, "exp": now + 60}


def test_access_token_round_trip_and_kid(settings: Settings) -> None:
    token = sessions.encode_access(settings, account_id="a1", session_id="s1")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] in sessions.signing_keys(settings)
    claims = sessions.decode_access(settings, token)
    assert claims is not None and claims["sub"] == "a1" and claims["sid"] == "s1"


def test_forged_and_confused_tokens_are_refused(settings: Settings) -> None:
    kid, key = next(iter(sessions.signing_keys(settings).items()))
    unsigned = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(_claims(settings)).encode()).decode().rstrip("=")
    assert sessions.decode_access(settings, f"{unsigned}.{body}.") is None  # alg "none"
    assert sessions.decode_access(settings, jwt.encode(_claims(settings), key, algorithm="HS512",
                                                       headers={"kid": kid})) is None  # algorithm not pinned one
    assert sessions.decode_access(settings, jwt.encode(_claims(settings), b"x" * 32, algorithm="HS256",
                                                       headers={"kid": kid})) is None  # wrong key
    assert sessions.decode_access(settings, jwt.encode(_claims(settings), key, algorithm="HS256",
                                                       headers={"kid": "old"})) is None  # unknown kid
    expired = {**_claims(settings), "exp": int(time.time()) - 5}
    assert sessions.decode_access(settings, jwt.encode(expired, key, algorithm="HS256", headers={"kid": kid})) is None
    other_aud = {**_claims(settings), "aud": "someone-else"}
    assert sessions.decode_access(settings, jwt.encode(other_aud, key, algorithm="HS256", headers={"kid": kid})) is None
    assert sessions.decode_access(settings, "garbage") is None


def test_state_cookie_binds_the_browser(settings: Settings) -> None:
    url, cookie = oauth.begin(settings, next_path="/x", redirect_uri=f"{settings.public_url}/auth/wechat/callback")
    state = url.split("state=")[1].split("&")[0]
    assert oauth.check_state(settings, cookie=cookie, state=state) == "/x"
    for bad_cookie, bad_state, kind in (
        (None, state, "state-missing"),
        (cookie, ("Y" if state[0] == "X" else "X") + state[1:], "state-mismatch"),
        (cookie[:-1] + ("0" if cookie[-1] != "0" else "1"), state, "state-mismatch"),  # tampered signature
    ):
        with pytest.raises(oauth.LoginProblem) as problem:
            oauth.check_state(settings, cookie=bad_cookie, state=bad_state)
        assert problem.value.kind == kind


def test_state_expires_after_five_minutes(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cookie = oauth.begin(settings, next_path="/", redirect_uri="x")
    state = url.split("state=")[1].split("&")[0]
    real = time.time
    monkeypatch.setattr(oauth.time, "time", lambda: real() + oauth.STATE_TTL_SECONDS + 1)
    with pytest.raises(oauth.LoginProblem) as problem:
        oauth.check_state(settings, cookie=cookie, state=state)
    assert problem.value.kind == "state-expired"


@pytest.mark.parametrize("value", ["https://evil.example", "//evil", "/\\evil", "javascript:x", "/a\nb", "", None,
                                   "http:/x", "\\\\evil"])
def test_next_must_be_a_local_path(value: str | None) -> None:
    assert oauth.safe_next(value) == "/"


def test_xml_guards() -> None:
    with pytest.raises(BadRequest):
        messages.parse_xml(b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><xml><a>&lol;</a></xml>')
    with pytest.raises(BadRequest):
        messages.parse_xml(b"<xml><a>unclosed</xml>")
    with pytest.raises(BadRequest):
        messages.parse_xml(b"<notxml/>")
    with pytest.raises(PayloadTooLarge):
        messages.parse_xml(b"<xml>" + b"a" * messages.MAX_BODY_BYTES + b"</xml>")
    assert messages.parse_xml(b"<xml><MsgType>event</MsgType></xml>") == {"MsgType": "event"}
    with pytest.raises(BadRequest):
        messages.check_timestamp(str(int(time.time()) - 301))
    with pytest.raises(BadRequest):
        messages.check_timestamp("soon")
    messages.check_timestamp(str(int(time.time()) - 10))


def test_url_signature(settings: Settings) -> None:
    ts = str(int(time.time()))
    messages.verify_url(settings, signature=messages.sha1_signature(settings.wechat_token, ts, "n"), timestamp=ts,
                        nonce="n")
    with pytest.raises(Forbidden):
        messages.verify_url(settings, signature="", timestamp=ts, nonce="n")


def _exercise(state: SharedState) -> None:
    holder = state.acquire("lock-a", ttl=timedelta(seconds=30))
    assert holder is not None
    assert state.acquire("lock-a", ttl=timedelta(seconds=30)) is None  # held
    state.release("lock-a", "someone-else")  # not ours to release
    assert state.acquire("lock-a", ttl=timedelta(seconds=30)) is None
    state.release("lock-a", holder)
    assert state.acquire("lock-a", ttl=timedelta(seconds=30)) is not None
    assert state.claim_once("code-1", ttl=timedelta(minutes=5)) is True
    assert state.claim_once("code-1", ttl=timedelta(minutes=5)) is False
    assert [state.hit("k", window=timedelta(hours=1), limit=3) for _ in range(4)] == [True, True, True, False]
    assert state.get("v") is None
    state.put("v", "value-1", expires_at=utcnow() + timedelta(minutes=10))
    found = state.get("v")
    assert found is not None and found[0] == "value-1"


def test_shared_state_database(engine) -> None:  # type: ignore[no-untyped-def]
    state = DatabaseState(engine)
    _exercise(state)
    expired = state.acquire("lock-b", ttl=timedelta(seconds=-1))  # already expired: anyone may take it
    assert expired is not None and state.acquire("lock-b", ttl=timedelta(seconds=30)) is not None


def test_shared_state_redis(redis_url: str) -> None:
    _exercise(RedisState(redis_url))


def test_redis_gone_is_a_clear_503_for_every_operation() -> None:
    """Redis stopped (issue 18): each operation raises SharedStateUnavailable (503 + Retry-After), never a
    bare connection error that would become a 500 (the live version: tests/cluster/test_faults_live.py)."""
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    until = utcnow() + timedelta(seconds=60)
    calls = [lambda: state.get("x"), lambda: state.put("x", "1", expires_at=until),
             lambda: state.acquire("x", ttl=timedelta(seconds=5)), lambda: state.release("x", "h"),
             lambda: state.claim_once("x", ttl=timedelta(seconds=5)),
             lambda: state.hit("x", window=timedelta(seconds=5), limit=3), lambda: state.unhit("x")]
    for call in calls:
        with pytest.raises(SharedStateUnavailable) as raised:
            call()
        assert raised.value.status == 503 and int(raised.value.headers["Retry-After"]) > 0


def test_housekeeping_prunes_only_old_rows(engine) -> None:  # type: ignore[no-untyped-def]
    from backend.auth.housekeeping import prune

    state = DatabaseState(engine)
    assert state.acquire("old", ttl=timedelta(seconds=-1)) is not None
    assert state.acquire("live", ttl=timedelta(minutes=5)) is not None
    assert state.hit("recent", window=timedelta(hours=1), limit=5)
    assert prune(engine=engine) == 1  # the expired lease only
    assert state.acquire("live", ttl=timedelta(minutes=5)) is None  # still held
    assert prune(engine=engine, now=utcnow() + timedelta(days=2)) == 2  # then the lease and the rate event


def test_simultaneous_unhits_each_give_one_back(engine) -> None:  # type: ignore[no-untyped-def]
    """Doctors opening one share at the same moment with the right code: each reserved an attempt and
    gives it back. Two give-backs that both picked the newest row deleted it once — a reservation kept
    per collision, until five of them locked the share for 15 minutes against the right code (seen in
    benchmarks/bench_request_kinds.py: 4 clients opening 2 shares, 429 share-locked after ~40 opens)."""
    state = DatabaseState(engine)
    window, threads = timedelta(minutes=15), 8
    for _ in range(3):
        start = threading.Barrier(threads)

        def reserve_then_give_back(start: threading.Barrier = start) -> None:
            assert state.hit("share-code:s", window=window, limit=3 * threads)
            start.wait(timeout=30)
            state.unhit("share-code:s")

        workers = [threading.Thread(target=reserve_then_give_back) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
    with session_scope(engine, readonly=True) as session:
        left = session.exec(select(func.count()).select_from(RateEvent).where(RateEvent.key == "share-code:s")).one()
    assert left == 0
