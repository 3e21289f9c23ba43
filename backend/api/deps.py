"""The ``Annotated`` dependencies every route uses (fastapi/full-stack-fastapi-template's deps.py is the
model): settings, the engine and sessions, the shared state, the caller, and the dependencies that
load *and* authorize a path object (``ReadablePerson``). Routes never read ``request.app.state`` nor
open sessions themselves.

Sessions: ``SessionDep`` is the request's one transaction, committed once before the answer is sent
(it may write: every read of health data writes an audit event). ``ReadSessionDep`` never writes (on
SQLite a deferred BEGIN: it never queues behind a writer).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

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


def get_session(engine: EngineDep) -> Iterator[Session]:
    """Session per request: one transaction, committed once before the response is sent."""
    with session_scope(engine) as session:
        yield session


def get_read_session(engine: EngineDep) -> Iterator[Session]:
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
