"""The share JSON API. Patient side: create / list / revoke / extend. Doctor side (share session):
``GET /api/v1/share/session`` and the ZIP downloads; the studies themselves are read through the
ordinary patient routes, which the access policy opens to the share session for exactly its studies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import StreamingResponse

from backend.access.principals import AccountPrincipal, Principal
from backend.api.deps import BlobsDep, CurrentPrincipal, ReadablePerson, SessionDep, SettingsDep
from backend.errors import NotFound
from backend.sharing import archive, service, view
from backend.sharing.schemas import (
    ShareCodeReset,
    ShareCreate,
    ShareCreated,
    ShareExtend,
    ShareLink,
    ShareList,
    ShareOut,
    ShareSessionOut,
)
from backend.storage.base import ObjectStore

router = APIRouter(tags=["sharing"])
ShareId = Annotated[str, Path(min_length=1, max_length=64)]
StudyId = Annotated[str, Path(min_length=1, max_length=64)]
NO_STORE = "no-store"


def _account(principal: Principal) -> AccountPrincipal:
    if not isinstance(principal, AccountPrincipal):
        raise NotFound("No such share.", zh="未找到该分享", code="share-not-found")
    return principal


@router.post("/people/{person_id}/shares", response_model=ShareCreated, status_code=status.HTTP_201_CREATED)
def create_share(access: ReadablePerson, body: ShareCreate, session: SessionDep, settings: SettingsDep,
                 response: Response) -> ShareCreated:
    """A link (and QR code) to exactly these studies; the token and the access code are shown only here."""
    response.headers["Cache-Control"] = NO_STORE
    return service.create(session=session, settings=settings, access=access, body=body)


@router.get("/people/{person_id}/shares", response_model=ShareList)
def list_shares(access: ReadablePerson, session: SessionDep, settings: SettingsDep, response: Response) -> ShareList:
    """Every share of this person, newest first, with who opened it when and what was viewed."""
    response.headers["Cache-Control"] = NO_STORE
    return ShareList(items=service.list_shares(session=session, settings=settings, access=access))


@router.delete("/shares/{share_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_share(share_id: ShareId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    service.revoke(session=session, principal=_account(principal), share_id=share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/shares/{share_id}/extend", response_model=ShareOut)
def extend_share(share_id: ShareId, body: ShareExtend, session: SessionDep, settings: SettingsDep,
                 principal: CurrentPrincipal) -> ShareOut:
    return service.extend(session=session, settings=settings, principal=_account(principal), share_id=share_id,
                          expires_in=body.expires_in, max_opens=body.max_opens)


@router.get("/shares/{share_id}/link", response_model=ShareLink)
def share_link(share_id: ShareId, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal,
               response: Response) -> ShareLink:
    """An active share's link and QR code again (the access code is not kept: reset it instead)."""
    response.headers["Cache-Control"] = NO_STORE
    return service.link(session=session, settings=settings, principal=_account(principal), share_id=share_id)


@router.post("/shares/{share_id}/access-code", response_model=ShareCodeReset)
def reset_access_code(share_id: ShareId, session: SessionDep, principal: CurrentPrincipal,
                      response: Response) -> ShareCodeReset:
    """A new access code, shown once; the old one stops working."""
    response.headers["Cache-Control"] = NO_STORE
    return service.reset_code(session=session, principal=_account(principal), share_id=share_id)


@router.get("/share/session", response_model=ShareSessionOut)
def share_session(session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal,
                  response: Response) -> ShareSessionOut:
    """The doctor view's header and study list (share session cookie only)."""
    response.headers["Cache-Control"] = NO_STORE
    return view.session_view(session=session, settings=settings, principal=principal)


def _zip(blobs: ObjectStore, members: list[archive.Member], name: str) -> StreamingResponse:
    body = archive.stream(blobs=blobs, archive=archive.plan(members=members))  # 503 here if the store is down
    headers = {"Cache-Control": NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(body, media_type="application/zip", headers=headers)


@router.get("/share/download.zip", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}}}, 403: {}})
def download_all(blobs: BlobsDep, session: SessionDep, principal: CurrentPrincipal) -> StreamingResponse:
    """Every shared study's original DICOM, with a DICOMDIR (403 when the patient forbade downloads)."""
    members = view.download_plan(session=session, principal=principal, study_id=None)
    return _zip(blobs, members, "yunying-share.zip")


@router.get("/share/studies/{study_id}/download.zip", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}}}, 403: {}, 404: {}})
def download_study(study_id: StudyId, blobs: BlobsDep, session: SessionDep,
                   principal: CurrentPrincipal) -> StreamingResponse:
    members = view.download_plan(session=session, principal=principal, study_id=study_id)
    return _zip(blobs, members, f"yunying-study-{study_id}.zip")
