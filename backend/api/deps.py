"""The ``Annotated`` dependencies every route uses (fastapi/full-stack-fastapi-template's deps.py is the
model): settings, the engine and sessions, the shared state, the caller, and the dependencies that
load *and* authorize a path object (``ReadablePerson``). Routes never read ``request.app.state`` nor
open sessions themselves.

Sessions: ``SessionDep`` is the request's one transaction, committed once before the answer is sent
(it may write: every read of health data writes an audit event). ``ReadSessionDep`` never writes (on
SQLite a deferred BEGIN: it never queues behind a writer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.access.callers import PrincipalResolver, who_is_calling
from backend.access.principals import AccountPrincipal, Anonymous, Principal
from backend.access.service import PersonAccess, authorize_person
from backend.config import Settings
from backend.db import session_scope
from backend.errors import Unauthorized
from backend.previews.service import Runtime, runtime_for
from backend.shared_state import SharedState, shared_state
from backend.storage.base import ObjectStore
from backend.wechat.client import HttpFactory, http_factory

__all__ = ["PrincipalResolver"]  # resolvers are typed here for api/router.py


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]


# Requests holding a request-scoped session at once, per worker process (issue 18, the login rush). Such
# a request hops between threads — the session, the principal, the endpoint each run in a thread of the
# shared pool — and holds its connection between the hops without a thread. With many of them in flight,
# all the pool's connections were held by requests waiting for a thread, while every thread waited for a
# connection: the node stood still until the pool's 30 s timeout, again and again. Admitted here first,
# waiting in the event loop holding nothing, at most this many hold a connection between hops; the rest
# of the pool (db.py: 20 on PostgreSQL, 24 on SQLite) serves the work that takes a connection and a
# thread together and gives both back (the preview hot path, session_scope in one thread).
REQUEST_SESSIONS = 8
_admission: RunVar[CapacityLimiter] = RunVar("yunying_request_sessions")


def _limiter() -> CapacityLimiter:
    try:
        return _admission.get()
    except LookupError:
        limiter = CapacityLimiter(REQUEST_SESSIONS)
        _admission.set(limiter)
        return limiter


async def admitted() -> AsyncIterator[None]:
    """Held from before the request's session opens until after it closes (FastAPI exits dependencies
    in the reverse order it entered them)."""
    async with _limiter():
        yield


def get_session(engine: EngineDep, _: Annotated[None, Depends(admitted, scope="function")]) -> Iterator[Session]:
    """Session per request: one transaction, committed once before the response is sent."""
    with session_scope(engine) as session:
        yield session


def get_read_session(engine: EngineDep,
                     _: Annotated[None, Depends(admitted, scope="function")]) -> Iterator[Session]:
    with session_scope(engine, readonly=True) as session:
        yield session


def get_blobs(request: Request) -> ObjectStore:
    blobs: ObjectStore = request.app.state.blobs
    return blobs


def get_shared_state(settings: SettingsDep, engine: EngineDep) -> SharedState:
    return shared_state(redis_url=settings.redis_url, engine=engine)


# scope="function": the commit happens before the response goes out, so a failed commit is an error
# response, never a 200 for work that was lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
BlobsDep = Annotated[ObjectStore, Depends(get_blobs)]
SharedStateDep = Annotated[SharedState, Depends(get_shared_state)]


def get_preview_runtime(request: Request) -> Runtime:
    return runtime_for(request.app.state)


PreviewRuntimeDep = Annotated[Runtime, Depends(get_preview_runtime)]


def get_wechat_http(request: Request) -> HttpFactory:
    """How WeChat (or its simulator) is reached: requests, unless a test injected a transport."""
    return http_factory(request.app.state)


WeChatHttpDep = Annotated[HttpFactory, Depends(get_wechat_http)]


def resolvers_of(request: Request) -> list[PrincipalResolver]:
    found: list[PrincipalResolver] = request.app.state.principal_resolvers
    return found


def get_principal(request: Request, session: SessionDep) -> Principal:
    """The caller, resolved within the request's own transaction."""
    return who_is_calling(request, session, resolvers=resolvers_of(request))


def principal_outside_transaction(request: Request) -> Principal:
    """The caller, resolved in a short read-only session of its own — for routes that must not hold a
    transaction while they work (STOW-RS receives for minutes; images render for a while)."""
    with session_scope(request.app.state.engine, readonly=True) as session:
        return who_is_calling(request, session, resolvers=resolvers_of(request))


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
CallerOutsideTransaction = Annotated[Principal, Depends(principal_outside_transaction)]


def current_account(principal: CurrentPrincipal) -> AccountPrincipal:
    if not isinstance(principal, AccountPrincipal):
        raise Unauthorized("Login required.", zh="请先登录", code="login-required")
    return principal


CurrentAccount = Annotated[AccountPrincipal, Depends(current_account)]


def dicomweb_principal(principal: Annotated[Principal, Depends(principal_outside_transaction)]) -> Principal:
    """DICOMweb callers: a hospital's key or a share session; anonymous is 401 with a Bearer challenge."""
    if isinstance(principal, Anonymous):
        error = Unauthorized("DICOMweb needs credentials (Authorization: Bearer <API key>, or a share session).",
                             code="api-key-required")
        error.headers = {"WWW-Authenticate": 'Bearer realm="yunying-dicomweb"'}
        raise error
    return principal


DicomwebPrincipal = Annotated[Principal, Depends(dicomweb_principal)]


def readable_person(
    person_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> PersonAccess:
    return authorize_person(session=session, principal=principal, person_id=person_id)


ReadablePerson = Annotated[PersonAccess, Depends(readable_person)]
