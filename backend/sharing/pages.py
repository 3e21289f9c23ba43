"""``/s/{token}``: the doctor's entry, server-rendered (no JavaScript, any browser, no WeChat).

GET never opens a share: a messenger's link preview, a mail scanner or a crawler fetching the link must
not spend a ``max_opens`` share's opens nor tell the patient it was opened. It answers a page whose
button (with the access-code field when the share has a code) POSTs to ``/s/{token}/session`` — only
that explicit action of the doctor opens. The answer that opens sets the ``yy_share`` cookie and
redirects to ``/doctor`` — a URL without the token, so it does not linger in the address bar, history
or screenshots; a GET from a browser that already holds a session of this share goes there too (a
reload, no open counted). ``POST /s/{token}/session`` takes the code as a form (the page) or as JSON
``{access_code}`` (CONTRACT.md).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

from backend.api.deps import EngineDep, SettingsDep
from backend.config import Settings
from backend.db import session_scope
from backend.errors import AppError, BadRequest, NotFound
from backend.proxies import client_address, proxy_request_id
from backend.shared_state import DatabaseState, SharedState
from backend.sharing import entry, rules
from backend.sharing.schemas import SessionCreate, SessionCreated
from backend.sharing.web import DOCTOR_HOME, current_share, set_share_cookie

router = APIRouter(tags=["sharing: doctor entry"])
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MAX_BODY = 4096

_STYLE = (
    "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#f4f6f8;"
    "color:#1f2933}main{max-width:420px;margin:12vh auto;padding:32px;background:#fff;border-radius:12px;"
    "box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:22px;margin:0 0 12px}p{line-height:1.6}"
    ".en{color:#6b7280;font-size:14px}input{font-size:28px;letter-spacing:8px;width:100%;padding:10px;"
    "box-sizing:border-box;text-align:center}button{margin-top:16px;width:100%;padding:12px;font-size:18px;"
    "background:#1668dc;color:#fff;border:0;border-radius:8px}.err{color:#b42318}"
)


def _page(title_zh: str, title_en: str, body: str = "", *, status: int = 200) -> HTMLResponse:
    doc = (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title_zh)} · 云影</title><style>{_STYLE}</style>'
        f'</head><body><main><h1>{html.escape(title_zh)}</h1><p class="en">{html.escape(title_en)}</p>{body}</main>'
        f"</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=NO_STORE)


def _code_page(token: str, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    message = f'<p class="err">{html.escape(error)}</p>' if error else ""
    form = (
        f'<p>患者为这份影像设置了 6 位访问码，请向患者索取。</p>{message}'
        f'<form method="post" action="/s/{html.escape(token)}/session" autocomplete="off">'
        f'<input name="access_code" inputmode="numeric" pattern="[0-9]{{6}}" maxlength="6" required autofocus '
        f'aria-label="访问码 (access code)"><button type="submit">查看影像 (View)</button></form>'
    )
    return _page("请输入访问码", "Enter the access code the patient gave you.", form, status=status)


def _open_page(token: str) -> HTMLResponse:
    """A share without a code: one button. Opening counts towards the share's limit and tells the
    patient, so it happens only when a person presses it (a POST), never on a GET."""
    form = (
        '<p>患者与您分享了影像。点击下方按钮开始查看（打开次数可能有限）。</p>'
        '<p class="en">A patient shared images with you. Press the button to view them (opens may be limited).</p>'
        f'<form method="post" action="/s/{html.escape(token)}/session">'
        f'<button type="submit" autofocus>查看影像 (View)</button></form>'
    )
    return _page("查看患者分享的影像", "View the images a patient shared with you.", form)


def _error_page(error: AppError) -> HTMLResponse:
    response = _page(error.message.zh, error.message.en, status=error.status)
    response.headers.update(error.headers)
    return response


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the entry steps use; each step opens its own short transaction (module docstring of entry.py)."""

    engine: Engine
    settings: Settings
    state: SharedState
    address: str | None  # the proxy-aware client address (proxies.py): rate limits count it
    # The front proxy's id of this request: the same on its resend to another node (proxies.py, entry.py)
    request_id: str | None = None


def _entry(request: Request, engine: EngineDep, settings: SettingsDep) -> _Entry:
    # The entry's counters and markers live in the database even when Redis is configured (issue 18):
    # with Redis stopped a doctor's link still opens, and the code lock and address block neither
    # reset nor split between two stores. They are rare (a page view reads one marker by key; only a
    # code attempt or a failure counts), so the database carries them at no cost that matters.
    return _Entry(engine=engine, settings=settings, state=DatabaseState(engine),
                  address=client_address(request.scope), request_id=proxy_request_id(request.scope))


EntryDep = Annotated[_Entry, Depends(_entry)]


def _unknown(state: SharedState, address: str | None) -> NotFound:
    entry.count_failure(state, address=address)
    return NotFound("This link is not valid.", code="share-not-found", zh="链接无效，请向患者核对。")


def _opened_response(request: Request, settings: Settings, opened: entry.Opened, *, as_json: bool) -> Response:
    response: Response
    if as_json:
        body = SessionCreated(redirect=DOCTOR_HOME, expires_at=opened.expires_at)
        response = JSONResponse(body.model_dump(mode="json"), headers=NO_STORE)
    else:
        response = RedirectResponse(DOCTOR_HOME, status_code=303, headers=NO_STORE)
    set_share_cookie(response, settings, opened)
    return response


def _already_in(request: Request, engine: Engine, share_id: str) -> bool:
    with session_scope(engine, readonly=True) as session:
        principal = current_share(request, session)
    return principal is not None and principal.share_id == share_id


@router.get("/s/{token}", tags=["sharing"], response_class=HTMLResponse,
            responses={303: {"description": "this browser already holds a session of this share"}, 404: {}, 410: {},
                       429: {}})
def open_link(token: str, request: Request, ctx: EntryDep) -> Response:
    """The link a patient's QR code carries; a GET never opens the share (a link preview must not use it
    up): 200 a page whose button — with the access-code field when there is a code — POSTs to
    ``/s/{token}/session``; 303 to ``/doctor`` when this browser already holds a session of this share;
    404 unknown link, 410 expired / withdrawn / used up, 429 too many failures. HTML."""
    engine, state, address = ctx.engine, ctx.state, ctx.address
    try:
        entry.check_address(state, address=address)
        found = entry.lookup(engine=engine, token=token)
        if found is None:
            raise _unknown(state, address)
        if _already_in(request, engine, found.share_id):  # a reload: no second open counted
            return RedirectResponse(DOCTOR_HOME, status_code=303, headers=NO_STORE)
        if found.status != rules.ACTIVE:
            raise entry.gone(found.status)
        return _code_page(token) if found.needs_code else _open_page(token)
    except AppError as error:
        return _error_page(error)


async def _read_code(request: Request) -> tuple[str | None, bool]:
    """The submitted code and whether the caller speaks JSON (the API) or a form (the page)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest("Body too large.", zh="请求内容过大", code="share-body")
    if (request.headers.get("content-type") or "").startswith("application/json"):
        try:
            body = SessionCreate.model_validate(json.loads(raw or b"{}"))
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than the interpreter allows
            raise BadRequest("Body must be {\"access_code\": \"123456\"}.", code="share-body") from None
        return body.access_code, True
    values = parse_qs(raw.decode("utf-8", "replace"))
    codes = values.get("access_code") or []
    return (codes[0] if codes else None), False


@router.post("/s/{token}/session", response_model=SessionCreated, summary="Exchange a share link for a session",
             responses={303: {"description": "form post: redirect to the doctor view"}, 410: {}, 403: {}, 429: {}})
async def start_session(token: str, request: Request, ctx: EntryDep) -> Response:
    """The doctor's explicit open (the entry page's button, or JSON ``{access_code}``) → the ``yy_share``
    cookie (HttpOnly, short-lived); the only request that counts an open. 403 wrong code, 429 locked (5
    wrong codes: 15 minutes, at most 5 codes ever checked per lock) or this address blocked, 410 expired /
    withdrawn / used up, 404 unknown."""
    from starlette.concurrency import run_in_threadpool

    as_json = True
    try:
        code, as_json = await _read_code(request)
        return await run_in_threadpool(_start_session, request, ctx, token, code, as_json)
    except AppError as error:
        if as_json:
            raise
        if error.code == "share-code-wrong":
            return _code_page(token, error="访问码错误，请重新输入 (wrong code).", status=403)
        return _error_page(error)


def _start_session(request: Request, ctx: _Entry, token: str, code: str | None, as_json: bool) -> Response:
    engine, settings, state, address = ctx.engine, ctx.settings, ctx.state, ctx.address
    entry.check_address(state, address=address)
    found = entry.lookup(engine=engine, token=token)
    if found is None:
        raise _unknown(state, address)
    if found.status != rules.ACTIVE and not (
            found.status == rules.USED_UP
            and entry.opened_by(engine=engine, share_id=found.share_id, request_id=ctx.request_id)):
        raise entry.gone(found.status)
    entry.check_code(engine=engine, state=state, share_id=found.share_id, code=code, address=address,
                     request_id=ctx.request_id)
    opened = entry.open_share(engine=engine, share_id=found.share_id, user_agent=request.headers.get("user-agent"),
                              request_id=ctx.request_id)
    return _opened_response(request, settings, opened, as_json=as_json)
