"""HTTP: WeChat login (``/auth/wechat/start``, ``/auth/wechat/callback``), refresh and logout, and the
account API (``/api/v1/me`` and identity binding). Thin: the work is in oauth.py, sessions.py and
binding.py."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from backend.access import audit
from backend.access.service import people_for_account
from backend.api.deps import (
    CallerOutsideTransaction,
    CurrentAccount,
    EngineDep,
    SessionDep,
    SettingsDep,
    SharedStateDep,
    WeChatHttpDep,
    current_account,
)
from backend.auth import binding, oauth, phone, realname, sessions, web
from backend.auth.models import Account
from backend.auth.pages import problem_page
from backend.auth.schemas import (
    AccountOut,
    BindingIn,
    BindingOut,
    ConsentOut,
    MeOut,
    OtpIn,
    OtpOut,
    PersonRef,
    PhoneConfirmIn,
    PhoneIn,
    RealnameBindingIn,
)
from backend.auth.sms import sms_sender
from backend.config import Settings
from backend.db import session_scope
from backend.errors import PROBLEM_JSON, ServiceUnavailable, Unauthorized
from backend.people.masking import mask_name
from backend.people.models import Person
from backend.threads import run_limited
from backend.wechat.client import Credentials, outbound

web_router = APIRouter(prefix="/auth", tags=["auth"])
api_router = APIRouter(prefix="/me", tags=["me"])


def _callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/auth/wechat/callback"


@web_router.get("/wechat/start", summary="Start WeChat login (redirects to WeChat's authorize page)")
def wechat_start(settings: SettingsDep, next: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    url, cookie = oauth.begin(settings, next_path=next, redirect_uri=_callback_url(settings))
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        web.STATE_COOKIE, cookie, max_age=oauth.STATE_TTL_SECONDS, path="/auth/wechat", httponly=True,
        secure=web.secure_cookies(settings), samesite="lax",
    )
    return response


def _has_session(request: Request, engine: Engine, settings: Settings) -> bool:
    token = request.cookies.get(web.SESSION_COOKIE)
    if not token:
        return False
    with session_scope(engine) as session:
        return sessions.resolve_access(session, settings=settings, token=token) is not None


# Logins that write at once, per worker. A first login's transaction ends with the audit chain's lock
# (one writer at a time across all nodes), so more of them at once only hold more pooled connections
# while they queue for it — the connections every other request needs (issue 18: 503 busy). The rest
# wait in the event loop holding nothing.
LOGIN_WRITERS = 4


def _log_in(engine: Engine, settings: Settings, identity: oauth.WeChatIdentity) -> sessions.IssuedTokens:
    with session_scope(engine) as session:
        account = oauth.upsert_account(session, identity=identity)
        tokens = sessions.start_session(session, settings=settings, account_id=account.id)
        # Written now, not by the commit's flush: that runs after the audit chain's lock is taken, and
        # every statement under that lock is one more wait for every other login.
        session.flush()
        # Behind a busy chain, the session.start event joins the next group write instead of queueing
        # alone; this returns (and the tokens leave) only once it is durable (audit.events_after_work).
        audit.events_after_work(session)
        return tokens


@web_router.get("/wechat/callback", summary="WeChat redirects here with code and state")
async def wechat_callback(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    state: SharedStateDep,
    http: WeChatHttpDep,
    code: Annotated[str | None, Query(max_length=256)] = None,
    oauth_state: Annotated[str | None, Query(alias="state", max_length=128)] = None,
) -> Response:
    """Exchanges WeChat's one-time code for the person's identity, starts a session and returns to the
    page the login began on; a problem page (in Chinese first) when the code or state is not valid."""
    # Issue 18, a rush of first logins: the code exchange waits on WeChat (up to its timeout) holding no
    # database connection and no thread of the worker's shared pool — it runs under its own limiter
    # (backend.wechat.client.outbound). Held across that wait, connections emptied the pool (503 busy) and
    # threads starved every other request, the simulator's answers included. The account and its session
    # are then written in one short transaction.
    try:
        next_path = oauth.check_state(settings, cookie=request.cookies.get(web.STATE_COOKIE), state=oauth_state)
        identity = await outbound(partial(
            oauth.exchange_code, settings, state_store=state, code=code, redirect_uri=_callback_url(settings),
            http=http,
        ))
    except oauth.LoginProblem as problem:
        if problem.kind in ("code-used", "state-missing") and await run_in_threadpool(
            _has_session, request, engine, settings
        ):
            return RedirectResponse("/", status_code=302)  # the page loaded twice: already logged in
        return problem_page(problem.kind)
    except ServiceUnavailable:  # shared state (Redis) gone: a page that says so, not a JSON problem
        return problem_page("busy")
    tokens = await run_limited("login-writes", LOGIN_WRITERS, partial(_log_in, engine, settings, identity))
    response = RedirectResponse(next_path, status_code=302)
    web.set_session_cookies(response, settings, tokens)
    response.delete_cookie(web.STATE_COOKIE, path="/auth/wechat")
    return response


def _problem(exc: Unauthorized, settings: Settings) -> JSONResponse:
    response = JSONResponse(exc.to_problem(), status_code=exc.status, media_type=PROBLEM_JSON)
    web.clear_session_cookies(response, settings)
    return response


@web_router.post("/refresh", status_code=204, summary="Rotate the refresh token, issue a new access token")
def refresh(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    web.check_csrf(request)
    tokens = sessions.refresh(session, settings=settings, refresh_token=request.cookies.get(web.REFRESH_COOKIE) or "")
    if tokens is None:
        # Returned, not raised: a detected reuse revoked the session and that must be committed.
        return _problem(Unauthorized("Session expired.", zh="登录已失效，请重新登录", code="session-expired"), settings)
    response = Response(status_code=204)
    web.set_session_cookies(response, settings, tokens)
    return response


@web_router.post("/logout", status_code=204, summary="End this session (takes effect at once)")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    web.check_csrf(request)
    session_id = sessions.session_of(
        session, settings=settings, access_token=request.cookies.get(web.SESSION_COOKIE) or "",
        refresh_token=request.cookies.get(web.REFRESH_COOKIE) or "",
    )
    if session_id is not None:
        sessions.revoke(session, session_id=session_id, reason="logout")
    response = Response(status_code=204)
    web.clear_session_cookies(response, settings)
    return response


def _person_ref(person: Person, relation: str) -> PersonRef:
    masked = mask_name(person.name)
    return PersonRef(
        id=person.id, relation=relation, name=masked, masked_name=masked, sex=person.sex,
        birth_year=person.birth_date.year if person.birth_date else None,
    )


@api_router.get("", response_model=MeOut, summary="The account, its bound person, and everyone it may act for")
def me(session: SessionDep, who: CurrentAccount) -> MeOut:
    account = session.get(Account, who.account_id)
    if account is None:
        raise Unauthorized("Login required.", zh="请先登录", code="login-required")
    people: list[PersonRef] = []
    own: PersonRef | None = None
    for person_id, relation in people_for_account(session=session, account_id=account.id):
        person = session.get(Person, person_id)
        if person is None:
            continue
        ref = _person_ref(person, relation)
        people.append(ref)
        if relation == "self":
            own = ref
    return MeOut(
        account=AccountOut(id=account.id, nickname=account.nickname, subscribed=account.subscribed,
                           created_at=account.created_at),
        bound=own is not None, person=own, people=people, consent_version=binding.CONSENT_VERSION,
    )


@api_router.post("/binding/otp", response_model=OtpOut, summary="Send a binding code to the verified phone")
def binding_otp(body: OtpIn, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
                who: CurrentAccount) -> OtpOut:
    """Sends a code to the person's verified phone if the name and resident ID match a registered person.
    Answers the same (status, shape, text) for every input and shows no phone digits; limited per account
    and per client address, never per person asked about."""
    sent = binding.request_otp(
        session, settings=settings, state=state, sms=sms_sender(settings),
        account_id=who.account_id, name=body.name, resident_id=body.resident_id,
    )
    return OtpOut(expires_in=sent.expires_in)


@api_router.post("/phone/otp", response_model=OtpOut, summary="Send a code to a new phone for identity codes")
def phone_otp(body: PhoneIn, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
              who: CurrentAccount) -> OtpOut:
    """The bound account proves a new phone: a code goes to that phone (only the person's own account may)."""
    sent = phone.send_code(session, settings=settings, state=state, sms=sms_sender(settings),
                           account_id=who.account_id, phone=body.phone)
    return OtpOut(expires_in=sent.expires_in)


@api_router.post("/phone", status_code=204, summary="Make a proven phone the one that receives identity codes")
def phone_confirm(body: PhoneConfirmIn, session: SessionDep, settings: SettingsDep,
                  who: CurrentAccount) -> Response:
    """The code sent to the new phone proves it; the old phone is told by SMS; audited against the person."""
    phone.confirm(session, settings=settings, sms=sms_sender(settings), account_id=who.account_id, phone=body.phone,
                  otp=body.otp)
    return Response(status_code=204)


@api_router.post("/binding", response_model=BindingOut, status_code=201, summary="Bind this account to a person")
def bind(body: BindingIn, session: SessionDep, settings: SettingsDep, who: CurrentAccount) -> BindingOut:
    row = binding.confirm(
        session, settings=settings, account_id=who.account_id, name=body.name, resident_id=body.resident_id,
        otp=body.otp, consent_version=body.consent_version,
    )
    return BindingOut(id=row.id, person_id=row.person_id, created_at=row.created_at)


@api_router.post("/binding/realname", response_model=BindingOut, status_code=201,
                 summary="Bind this account by WeChat real-name face verification")
def bind_realname(body: RealnameBindingIn, settings: SettingsDep, engine: EngineDep, state: SharedStateDep,
                  http: WeChatHttpDep, caller: CallerOutsideTransaction) -> BindingOut:
    """The stronger path: WeChat's face verification (人脸核身) proves the typed name and resident ID
    belong to this WeChat user; no phone is involved. 400 when the verdict does not confirm it. No
    transaction is held while WeChat answers."""
    who = current_account(caller)
    with session_scope(engine, readonly=True) as session:
        account = session.get(Account, who.account_id)
        openid = account.openid if account else ""
    credentials = Credentials(settings=settings, state=state, http=http)
    verified = realname.verify(settings=settings, state=state, credentials=credentials, openid=openid,
                               name=body.name, resident_id=body.resident_id, verify_result=body.verify_result)
    with session_scope(engine) as session:
        row = realname.bind_verified(session, settings=settings, account_id=who.account_id, verified=verified,
                                     consent_version=body.consent_version)
    return BindingOut(id=row.id, person_id=row.person_id, created_at=row.created_at)


@api_router.delete("/binding", status_code=204, summary="Withdraw consent and end the binding")
def unbind(session: SessionDep, who: CurrentAccount) -> Response:
    binding.withdraw(session, account_id=who.account_id)
    return Response(status_code=204)


@api_router.get("/consents", response_model=list[ConsentOut], summary="Consents given, with withdrawal")
def list_consents(session: SessionDep, who: CurrentAccount) -> list[ConsentOut]:
    return [
        ConsentOut(id=c.id, person_id=c.person_id, policy_version=c.policy_version, purpose=c.purpose,
                   granted_at=c.granted_at, withdrawn_at=c.withdrawn_at, withdraw_url="/api/v1/me/binding")
        for c in binding.consents(session, account_id=who.account_id)
    ]
