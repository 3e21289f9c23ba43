"""The WeChat adapter: wechatpy clients pointed at our base URLs, and the shared access token and
jsapi ticket.

- wechatpy keeps its endpoints in class attributes (``WeChatOAuth.API_BASE_URL``/``OAUTH_BASE_URL``,
  ``WeChatClient.API_BASE_URL``); we override them on each instance, so the same client code talks to
  api.weixin.qq.com in production and to the simulator in development.
- One client per use: ``WeChatOAuth`` remembers the last user's token and openid on the instance.
- wechatpy's ``auto_retry`` refetches the token and retries without bound on 40001/40014/42001; we
  turn it off and retry once ourselves after invalidating the shared token.
- The access token comes from ``/cgi-bin/stable_token`` (稳定版接口调用凭据, doc:
  https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html),
  cached for all workers and refreshed ahead of expiry under a lease; the jsapi ticket likewise
  (JS-SDK doc, appendix 1: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import requests
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.exceptions import WeChatClientException

from backend.clock import utcnow
from backend.config import Settings
from backend.shared_state import SharedState
from backend.threads import run_limited

T = TypeVar("T")

TIMEOUT_SECONDS = 5.0
REFRESH_AHEAD = timedelta(minutes=5)  # renew this long before the token's own expiry
LEASE_TTL = timedelta(seconds=15)
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential / invalid token / token expired

HttpFactory = Callable[[], requests.Session]

# Threads that wait on WeChat from an async endpoint (the login's code exchange): a limiter of their own,
# so a rush of logins waiting on WeChat never takes the threads every other request (the simulator's
# answers to those very logins included) runs on. Per worker process.
OUTBOUND_THREADS = 32


async def outbound(call: Callable[[], T]) -> T:
    """Run a blocking WeChat call in a thread of the outbound limiter."""
    return await run_limited("wechat-outbound", OUTBOUND_THREADS, call)


def http_factory(app_state: Any) -> HttpFactory:
    """The HTTP session factory for WeChat calls: ``requests.Session`` unless a test injected one
    (``app.state.wechat_http``, e.g. a session whose adapter forwards to an in-process app)."""
    factory: HttpFactory | None = getattr(app_state, "wechat_http", None)
    return factory or requests.Session


class WeChatUnavailable(Exception):
    """WeChat (or the simulator) did not answer usably."""


def api_base(settings: Settings) -> str:
    return settings.effective_wechat_api_base


def authorize_base(settings: Settings) -> str:
    """Where the browser goes to authorize: the simulator in development, open.weixin.qq.com otherwise."""
    if settings.wechat_simulator:
        return api_base(settings)
    return "https://open.weixin.qq.com"


def make_oauth(
    settings: Settings, *, redirect_uri: str, state: str, http: HttpFactory | None = None
) -> WeChatOAuth:
    oauth = WeChatOAuth(settings.wechat_appid, settings.wechat_secret, redirect_uri, scope="snsapi_base", state=state)
    oauth.API_BASE_URL = api_base(settings) + "/"
    oauth.OAUTH_BASE_URL = authorize_base(settings) + "/connect/"
    oauth._http = _with_timeout((http or requests.Session)())
    return oauth


def _with_timeout(session: requests.Session) -> requests.Session:
    """wechatpy's WeChatOAuth sends its requests with no timeout (WeChatClient takes one): an exchange
    that WeChat never answered held its worker thread for ever. Under a rush of logins those threads
    were all a worker had, and the answers they waited for could not be served (issue 18)."""
    send = session.request

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return send(method, url, **kwargs)

    session.request = request  # type: ignore[method-assign,assignment]
    return session


def make_client(settings: Settings, *, access_token: str, http: HttpFactory | None = None) -> WeChatClient:
    client = WeChatClient(
        settings.wechat_appid, settings.wechat_secret, access_token=access_token, timeout=TIMEOUT_SECONDS,
        auto_retry=False,
    )
    client.API_BASE_URL = api_base(settings) + "/cgi-bin/"
    client._http = (http or requests.Session)()
    return client


class Credentials:
    """The access token and jsapi ticket, shared through :mod:`backend.shared_state`."""

    def __init__(self, *, settings: Settings, state: SharedState, http: HttpFactory | None = None) -> None:
        self.settings = settings
        self.state = state
        self.http = http or requests.Session

    def _name(self, what: str) -> str:
        return f"wechat:{self.settings.wechat_appid}:{what}"

    def _cached(self, what: str, fetch: Callable[[], tuple[str, int]], *, force: bool = False) -> str:
        name = self._name(what)
        for _ in range(40):  # at most ~4 s waiting for another worker's refresh
            found = self.state.get(name)
            if found and not force and found[1] - utcnow() > REFRESH_AHEAD:
                return found[0]
            holder = self.state.acquire(name, ttl=LEASE_TTL)
            if holder is None:
                if found and not force and found[1] > utcnow():
                    return found[0]  # still valid: use it while the holder renews
                time.sleep(0.1)
                continue
            try:
                again = self.state.get(name)  # another worker may have finished meanwhile
                if again and not force and again[1] - utcnow() > REFRESH_AHEAD:
                    return again[0]
                value, expires_in = fetch()
                self.state.put(name, value, expires_at=utcnow() + timedelta(seconds=expires_in))
                return value
            finally:
                self.state.release(name, holder)
        raise WeChatUnavailable("timed out waiting for the WeChat credential")

    def access_token(self, *, force: bool = False) -> str:
        return self._cached("access_token", self._fetch_access_token, force=force)

    def jsapi_ticket(self, *, force: bool = False) -> str:
        return self._cached("jsapi_ticket", self._fetch_ticket, force=force)

    def _fetch_access_token(self) -> tuple[str, int]:
        # POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh}: the stable token stays
        # the same across calls until it expires, so several callers never invalidate each other.
        try:
            res = self.http().post(
                api_base(self.settings) + "/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.settings.wechat_appid,
                    "secret": self.settings.wechat_secret,
                    "force_refresh": False,
                },
                timeout=TIMEOUT_SECONDS,
            )
            body: dict[str, Any] = res.json()
        except (requests.RequestException, ValueError) as exc:
            raise WeChatUnavailable(f"stable_token: {type(exc).__name__}") from exc
        if body.get("errcode") or "access_token" not in body:
            raise WeChatUnavailable(f"stable_token errcode {body.get('errcode')}")
        return str(body["access_token"]), int(body.get("expires_in", 7200))

    def _fetch_ticket(self) -> tuple[str, int]:
        try:
            body = self.call(lambda client: client.jsapi.get_ticket("jsapi"))
        except WeChatClientException as exc:
            raise WeChatUnavailable(f"getticket errcode {exc.errcode}") from exc
        return str(body["ticket"]), int(body.get("expires_in", 7200))

    def call(self, action: Callable[[WeChatClient], T]) -> T:
        """Run one API call with the shared token; on a token error refresh once and retry once."""
        for attempt in (1, 2):
            client = make_client(self.settings, access_token=self.access_token(force=attempt == 2), http=self.http)
            try:
                return action(client)
            except WeChatClientException as exc:
                if attempt == 1 and exc.errcode in TOKEN_ERRORS:
                    continue
                raise
            except requests.RequestException as exc:
                if attempt == 1:
                    continue
                raise WeChatUnavailable(type(exc).__name__) from exc
        raise AssertionError("unreachable")
