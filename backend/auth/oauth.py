"""WeChat web authorization (网页授权, OAuth 2.0 authorization code), the service half.

Doc: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
- Step 1, authorize URL with ``scope=snsapi_base`` (silent) and ``state`` (a-zA-Z0-9, ≤128 bytes).
- Step 2, ``/sns/oauth2/access_token`` exchanges the code; a code is single-use and expires after
  5 minutes; ``is_snapshotuser: 1`` marks a user in 朋友圈快照页 mode (a virtual openid): such a user
  must never be logged in.

``state`` is a random value; the browser keeps a signed cookie holding it, ``next`` and an expiry, so
a callback is accepted only in the browser that started it, within 5 minutes (login CSRF defence,
RFC 6749 §10.12).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from sqlmodel import Session, select
from wechatpy.exceptions import WeChatClientException

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth.models import Account
from backend.clock import utcnow
from backend.config import Settings
from backend.db import insert_missing
from backend.ids import new_id
from backend.shared_state import SharedState
from backend.wechat.client import HttpFactory, make_oauth

STATE_TTL_SECONDS = 300
CODE_ONCE_TTL = timedelta(minutes=10)  # longer than a code lives (5 min)
_ALNUM = string.ascii_letters + string.digits


class LoginProblem(Exception):
    """Why a login failed; ``kind`` picks the page shown."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def safe_next(value: str | None) -> str:
    """Only same-origin relative paths: "/x?y" yes; "//evil", "/\\evil", "https://…", "javascript:" no."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in value) or len(value) > 512:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _sign(settings: Settings, payload: str) -> str:
    key = settings.secret_bytes("secret_key")
    return hmac.new(key, f"oauth-state:{payload}".encode(), hashlib.sha256).hexdigest()


def begin(settings: Settings, *, next_path: str | None, redirect_uri: str) -> tuple[str, str]:
    """The authorize URL and the value of the browser-binding state cookie."""
    state = "".join(secrets.choice(_ALNUM) for _ in range(32))
    payload = base64.urlsafe_b64encode(
        json.dumps({"s": state, "n": safe_next(next_path), "e": int(time.time()) + STATE_TTL_SECONDS}).encode()
    ).decode()
    cookie = f"{payload}.{_sign(settings, payload)}"
    url = make_oauth(settings, redirect_uri=redirect_uri, state=state).authorize_url
    if settings.wechat_simulator:
        # "#wechat_redirect" only matters inside WeChat's own browser; without it, automation can
        # append "&sim_user=<openid>" to the simulator's URL directly.
        url = url.split("#", 1)[0]
    return url, cookie


def check_state(settings: Settings, *, cookie: str | None, state: str | None) -> str:
    """Returns ``next`` when the callback's state matches this browser's cookie; raises LoginProblem."""
    if not cookie:
        raise LoginProblem("state-missing")
    payload, _, signature = cookie.rpartition(".")
    if not payload or not hmac.compare_digest(signature, _sign(settings, payload)):
        raise LoginProblem("state-mismatch")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        expected, next_path, expires = str(data["s"]), str(data["n"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        raise LoginProblem("state-mismatch") from None
    if not state or not hmac.compare_digest(expected.encode(), state.encode()[:128]):
        raise LoginProblem("state-mismatch")
    if time.time() > expires:
        raise LoginProblem("state-expired")
    return safe_next(next_path)


ERRCODE_KINDS = {40029: "code-invalid", 40163: "code-used", 42003: "code-expired", 40013: "config", 40125: "config"}


@dataclass(frozen=True, slots=True)
class WeChatIdentity:
    openid: str
    unionid: str | None


def exchange_code(
    settings: Settings, *, state_store: SharedState, code: str | None, redirect_uri: str,
    http: HttpFactory | None = None,
) -> WeChatIdentity:
    """Exchange the code at most once across all workers; raises LoginProblem."""
    if not code or len(code) > 256:
        raise LoginProblem("code-missing")
    digest = hashlib.sha256(code.encode()).hexdigest()
    if not state_store.claim_once(f"oauth-code:{digest}", ttl=CODE_ONCE_TTL):
        raise LoginProblem("code-used")
    oauth = make_oauth(settings, redirect_uri=redirect_uri, state="", http=http)
    try:
        res = oauth.fetch_access_token(code)
    except WeChatClientException as exc:
        if exc.errcode is None:
            raise LoginProblem("unavailable") from None
        raise LoginProblem(ERRCODE_KINDS.get(int(exc.errcode), "wechat-error")) from None
    except (requests.RequestException, ValueError):
        raise LoginProblem("unavailable") from None
    if int(res.get("is_snapshotuser") or 0) == 1:
        raise LoginProblem("snapshot")
    openid = res.get("openid")
    if not isinstance(openid, str) or not openid:
        raise LoginProblem("wechat-error")
    unionid = res.get("unionid")
    return WeChatIdentity(openid=openid, unionid=unionid if isinstance(unionid, str) else None)


def upsert_account(session: Session, *, identity: WeChatIdentity) -> Account:
    """The account of this WeChat user, created at its first login. An upsert: two first logins of one
    user at once (two tabs, a double tap) make one account, and the loser is not an error."""
    new_id_ = new_id()
    created = insert_missing(session, Account, keys=["openid"], values={
        "id": new_id_, "openid": identity.openid, "unionid": identity.unionid, "created_at": utcnow()})
    account = session.exec(select(Account).where(Account.openid == identity.openid)
                           .execution_options(populate_existing=True)).one()
    if identity.unionid and not account.unionid:
        account.unionid = identity.unionid
    account.last_login_at = utcnow()
    session.add(account)
    session.flush()
    if created:
        audit.record(
            session, principal=AccountPrincipal(account.id), action=audit.CREATE, event_type="account.create",
            object_type="account", object_id=account.id,
        )
    return account
