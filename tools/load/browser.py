"""What a browser does that the load model needs: log in through WeChat (the simulator) and send the
CSRF header on unsafe requests. Works on a ``requests.Session``, on Locust's ``HttpSession`` (a
subclass) and on its ``FastHttpSession`` (its cookies are a ``cookiejar``), so the population builder
and the simulated users log in the same way."""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode

import requests

from backend.studies.record_kind import KIND as STUDY_KIND

CSRF_COOKIE = "yy_csrf"  # CONTRACT.md: double-submit cookie, echoed in X-CSRF-Token


def login(http: Any, *, base_url: str, openid: str, **request_kwargs: Any) -> None:
    """The OAuth dance of CONTRACT.md: /auth/wechat/start → the simulator's authorize URL with
    ``sim_user`` → our callback, which sets the session cookie. Raises on any refusal."""
    start = http.get(f"{base_url}/auth/wechat/start?" + urlencode({"next": "/"}), allow_redirects=False,
                     **request_kwargs)
    location = start.headers.get("location")
    if start.status_code != 302 or not location:
        raise RuntimeError(f"login start answered {start.status_code}")
    authorize = location + ("&" if "?" in location else "?") + urlencode({"sim_user": openid})
    code = http.get(authorize, allow_redirects=False, **request_kwargs)
    callback = code.headers.get("location")
    if code.status_code != 302 or not callback:
        raise RuntimeError(f"the simulator's authorize answered {code.status_code}")
    # The callback sets the session and redirects to the app; the app's page itself is not the API's load.
    done = http.get(callback, allow_redirects=False, **request_kwargs)
    if done.status_code not in (302, 303) or cookie(http, CSRF_COOKIE) is None:
        raise RuntimeError(f"login for a simulated user ended with {done.status_code}")


def cookies(http: Any) -> CookieJar:
    """The client's cookie jar: ``requests``' own (a CookieJar) or FastHttpSession's ``cookiejar``."""
    jar = http.cookies if isinstance(http, requests.Session) else http.cookiejar
    assert isinstance(jar, CookieJar)
    return jar


def cookie(http: Any, name: str) -> str | None:
    return next((c.value for c in cookies(http) if c.name == name), None)


def csrf(http: Any) -> dict[str, str]:
    return {"X-CSRF-Token": cookie(http, CSRF_COOKIE) or ""}


def hospital(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def timeline_studies(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The imaging studies among a timeline page's items (their ``ref_id`` is the study's id), by the
    kind the timeline names them with (backend/studies/record_kind.py). The load model once looked for
    ``"study"``, which no item has: patients and relatives never opened a study (issue 18)."""
    return [item for item in items if item.get("kind") == STUDY_KIND]
