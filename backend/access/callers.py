"""Who is calling: the one answer, for every route and for the preview hot path.

Each request resolves to exactly one principal (principals.py). The resolvers — a hospital's bearer
key, a doctor's share-session cookie, a patient's session cookie, in that order of precedence — are
listed once (``backend/api/router.py``) and put on the app at start-up; the first that recognises the
request wins, else the caller is anonymous. The answer is kept on ``request.state`` so a request is
resolved once however many dependencies ask.

No web framework here: a request is anything with ``state`` (Starlette's Request, the hot path's
own request object), and each resolver reads what it needs from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session

from backend.access.principals import Anonymous, Principal

PrincipalResolver = Callable[[Any, Session], Principal | None]


def who_is_calling(request: Any, session: Session, *, resolvers: Sequence[PrincipalResolver]) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        found: Principal = cached
        return found
    principal: Principal = Anonymous()
    for resolve in resolvers:
        answer = resolve(request, session)
        if answer is not None:
            principal = answer
            break
    request.state.principal = principal
    return principal
