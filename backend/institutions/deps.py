"""Resolving ``Authorization: Bearer <key>`` to an institution principal (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from backend.access.principals import InstitutionPrincipal
from backend.api.deps import CurrentPrincipal
from backend.errors import Unauthorized
from backend.institutions.service import KEY_PREFIX, authenticate


def principal_from_api_key(request: Request, session: Session) -> InstitutionPrincipal | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith(KEY_PREFIX + "_"):
        return None
    # A presented but invalid key is an error, not anonymity.
    return authenticate(session=session, api_key=token.strip())


def require_institution(principal: CurrentPrincipal) -> InstitutionPrincipal:
    """For hospital-only routes: a valid API key is required."""
    if not isinstance(principal, InstitutionPrincipal):
        error = Unauthorized(
            "This endpoint needs a hospital API key (Authorization: Bearer yyk_…).",
zh="此接口需要医院 API 密钥", code="api-key-required"
        )
        error.headers = {"WWW-Authenticate": 'Bearer realm="yunying"'}
        raise error
    return principal


CurrentInstitution = Annotated[InstitutionPrincipal, Depends(require_institution)]
