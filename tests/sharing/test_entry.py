"""The doctor's entry ``/s/{token}``: access codes and their lockout, 404/410 pages, brute force from
one address, revocation of a session that is already open, and share sessions off their share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from backend.db import session_scope
from backend.notify.models import Notification
from backend.sharing.models import Share
from tests.family import helpers as h
from tests.sharing.conftest import browser
from tests.sharing.world import ShareWorld, open_share, token_of


def _post_code(doctor: TestClient, token: str, code: str) -> object:
    return doctor.post(f"/s/{token}/session", json={"access_code": code})


def _other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_page_then_form_post_opens(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(with_access_code=True)
    token = token_of(made["url"])
    page = doctor.get(f"/s/{token}", follow_redirects=False)
    assert page.status_code == 200 and "请输入访问码" in page.text and 'name="access_code"' in page.text
    assert "yy_share" not in page.headers.get("set-cookie", "")
    wrong = doctor.post(f"/s/{token}/session", data={"access_code": _other_code(made["access_code"])},
                        follow_redirects=False)
    assert wrong.status_code == 403 and "访问码错误" in wrong.text
    ok = doctor.post(f"/s/{token}/session", data={"access_code": made["access_code"]}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/doctor"
    assert doctor.get("/api/v1/share/session").status_code == 200


def test_a_plain_get_never_opens_a_share(world: ShareWorld, doctor: TestClient) -> None:
    """A messenger's link preview (or any crawler) fetching the link must not spend a code-less
    share's only open nor tell the patient it was opened: GET answers a page whose button POSTs."""
    made = world.create(max_opens=1)
    token = token_of(made["url"])
    with browser(world.client.app) as preview_bot:
        for _ in range(3):
            page = preview_bot.get(f"/s/{token}", follow_redirects=False,
                                   headers={"User-Agent": "WeChat LinkPreview"})
            assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
            assert f'<form method="post" action="/s/{token}/session"' in page.text and "<button" in page.text
            assert 'name="access_code"' not in page.text  # no code was set: only the button
            assert "yy_share" not in page.headers.get("set-cookie", "")
    with session_scope(world.engine, readonly=True) as s:
        row = s.get(Share, made["id"])
        assert row is not None and row.opens == 0 and row.first_opened_at is None
        assert s.exec(select(Notification).where(Notification.event_key == f"share-open:{made['id']}")).all() == []
    opened = open_share(doctor, token)  # the doctor's click
    assert opened.status_code == 303 and opened.headers["location"] == "/doctor"
    assert doctor.get(f"/s/{token}", follow_redirects=False).status_code == 303  # a reload of an open session
    with browser(world.client.app) as late:
        assert late.get(f"/s/{token}", follow_redirects=False).status_code == 410  # the one open is spent


def test_json_exchange_as_in_the_contract(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(with_access_code=True)
    res = _post_code(doctor, token_of(made["url"]), made["access_code"])
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]
    assert res.json()["redirect"] == "/doctor"  # type: ignore[attr-defined]
    assert res.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    assert doctor.get("/api/v1/share/session").status_code == 200


def test_five_wrong_codes_lock_the_share_for_fifteen_minutes(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    for _ in range(5):
        res = _post_code(doctor, token, _other_code(code))
        assert res.status_code == 403 and h.code(res) == "share-code-wrong"  # type: ignore[attr-defined]
    locked = _post_code(doctor, token, code)
    assert locked.status_code == 429 and h.code(locked) == "share-locked"  # type: ignore[attr-defined]
    assert locked.headers["retry-after"] == "900"  # type: ignore[attr-defined]
    # another share of the same patient is not locked
    second = world.create(with_access_code=True)
    assert _post_code(doctor, token_of(second["url"]), second["access_code"]).status_code == 200  # type: ignore[attr-defined]


def test_a_right_code_does_not_use_up_an_attempt(world: ShareWorld, doctor: TestClient) -> None:
    """Attempts are reserved before the check; the right code gives its reservation back, so doctors
    who open the link with the code are never locked out by each other."""
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    for _ in range(4):
        assert _post_code(doctor, token, _other_code(code)).status_code == 403  # type: ignore[attr-defined]
    for _ in range(3):
        assert _post_code(doctor, token, code).status_code == 200  # type: ignore[attr-defined]
    assert _post_code(doctor, token, _other_code(code)).status_code == 403  # type: ignore[attr-defined]  # the 5th
    assert _post_code(doctor, token, code).status_code == 429  # type: ignore[attr-defined]


def test_gone_pages(world: ShareWorld, doctor: TestClient) -> None:
    expired, revoked, used = world.create(), world.create(), world.create(max_opens=1)
    with session_scope(world.engine) as s:
        row = s.get(Share, expired["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row)
    assert world.client.delete(f"/api/v1/shares/{revoked['id']}", headers=world.owner_headers()).status_code == 204
    with browser(world.client.app) as first:
        assert open_share(first, token_of(used['url'])).status_code == 303
        # the browser that opened it may reload the link without spending an open
        assert first.get(f"/s/{token_of(used['url'])}", follow_redirects=False).status_code == 303
    for made, text in ((expired, "此链接已过期"), (revoked, "此链接已被撤回"), (used, "打开次数已用完")):
        res = doctor.get(f"/s/{token_of(made['url'])}", follow_redirects=False)
        assert res.status_code == 410 and text in res.text, (res.status_code, res.text[:200])
        assert res.headers["cache-control"] == "no-store" and res.headers["referrer-policy"] == "no-referrer"
        api = _post_code(doctor, token_of(made["url"]), "000000")
        assert api.status_code == 410  # type: ignore[attr-defined]


def test_unknown_and_malformed_tokens(world: ShareWorld, doctor: TestClient) -> None:
    for token in ("yys_" + "A" * 32, "nonsense", "yys_../../etc", "yys_" + "x" * 200):
        res = doctor.get(f"/s/{token}", follow_redirects=False)
        assert res.status_code == 404 and "链接无效" in res.text


def test_failures_from_one_address_across_many_shares_are_limited(world: ShareWorld, doctor: TestClient) -> None:
    shares = [world.create(with_access_code=True) for _ in range(4)]
    failures = 0
    for made in shares:  # 4 wrong codes each: no single share locks
        for _ in range(4):
            _post_code(doctor, token_of(made["url"]), _other_code(made["access_code"]))
            failures += 1
    for i in range(20 - failures):
        doctor.get(f"/s/yys_{'B' * 31}{i}", follow_redirects=False)
    fresh = world.create()
    res = doctor.get(f"/s/{token_of(fresh['url'])}", follow_redirects=False)
    assert res.status_code == 429 and "尝试次数过多" in res.text


def test_revocation_ends_an_open_session(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    open_share(doctor, token_of(made['url']))
    study = f"/api/v1/people/{world.person_id}/studies/{world.studies['a']}"
    assert doctor.get(study).status_code == 200
    assert world.client.delete(f"/api/v1/shares/{made['id']}", headers=world.owner_headers()).status_code == 204
    assert doctor.get(study).status_code == 404
    assert doctor.get("/api/v1/share/session").status_code == 401
    assert doctor.get(f"/dicomweb/studies?StudyInstanceUID={world.uids['a']}").status_code == 401


def test_share_session_cannot_write_or_reach_elsewhere(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    open_share(doctor, token_of(made['url']))
    pid = world.person_id
    assert doctor.post(f"/api/v1/people/{pid}/shares", json={"study_ids": [world.studies["a"]]}).status_code in (
        401, 403, 404)
    assert doctor.delete(f"/api/v1/shares/{made['id']}").status_code in (401, 403, 404)
    assert doctor.get(f"/api/v1/people/{pid}/access-log").status_code in (403, 404)
    assert doctor.get(f"/api/v1/people/{pid}/shares").status_code in (403, 404)
    assert doctor.get("/api/v1/me").status_code == 401
    assert doctor.get(f"/api/v1/people/{world.other_person_id}/timeline").status_code == 404
    with session_scope(world.engine, readonly=True) as s:
        assert s.get(Share, made["id"]).revoked_at is None  # type: ignore[union-attr]


def test_first_open_notifies_the_patient_once(world: ShareWorld, doctor: TestClient) -> None:
    made = world.create()
    open_share(doctor, token_of(made['url']))
    with browser(world.client.app) as second:
        open_share(second, token_of(made['url']))
    with session_scope(world.engine, readonly=True) as s:
        rows = s.exec(select(Notification).where(Notification.event_key == f"share-open:{made['id']}")).all()
    assert [(r.account_id, r.kind) for r in rows] == [(world.owner, "share_opened")]
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    assert next(i for i in listed["items"] if i["id"] == made["id"])["opens"] == 2
