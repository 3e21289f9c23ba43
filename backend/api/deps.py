"""Shared ``Annotated`` dependencies: the database session, settings, the principal, and the
dependencies that load *and* authorize a path object (``ReadablePerson``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.access.principals import Anonymous, Principal
from backend.access.service import PersonAccess, authorize_person
from backend.config import Settings
from backend.db import session_scope
from backend.storage.service import LocalBlobStore

# A principal resolver looks at the request (cookie, bearer key …) and returns a principal or None.
# Domains register theirs at app creation (see main.py); the first non-None answer wins.
PrincipalResolver = Callable[[Request, Session], Principal | None]


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """Session per request: one transaction, committed once before the response is sent."""
    with session_scope(request.app.state.engine) as session:
        yield session


def get_blobs(request: Request) -> LocalBlobStore:
    blobs: LocalBlobStore = request.app.state.blobs
    return blobs


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the commit happens before the response goes out, so a failed commit is an error
# response, never a 200 for work that was lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
BlobsDep = Annotated[LocalBlobStore, Depends(get_blobs)]


def get_principal(request: Request, session: SessionDep) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        principal: Principal = cached
        return principal
    resolvers: list[PrincipalResolver] = request.app.state.principal_resolvers
    found: Principal = Anonymous()
    for resolve in resolvers:
        answer = resolve(request, session)
        if answer is not None:
            found = answer
            break
    request.state.principal = found
    return found


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def readable_person(
    person_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> PersonAccess:
    return authorize_person(session=session, principal=principal, person_id=person_id)


ReadablePerson = Annotated[PersonAccess, Depends(readable_person)]
