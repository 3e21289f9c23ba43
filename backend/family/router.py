"""HTTP for family access (all under /api/v1). Thin: the work is in service.py and paths.py; person
routes authorize through ``ReadablePerson`` (the one policy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlmodel import Session

from backend.access.principals import AccountPrincipal
from backend.api.deps import CurrentAccount, ReadablePerson, SessionDep, SettingsDep, SharedStateDep
from backend.auth.schemas import OtpOut
from backend.auth.sms import sms_sender
from backend.clock import aware, utcnow
from backend.config import Settings
from backend.errors import NotFound
from backend.family import paths, rules, service, views, visibility
from backend.family.models import ELDER, GUARDIAN
from backend.family.schemas import (
    ElderIn,
    GrantOut,
    GuardianIn,
    InvitationOut,
    InvitationPreview,
    ProveIn,
    RequestIn,
    RequestOut,
    TermsIn,
    VisibilityIn,
)
from backend.people.masking import mask_name
from backend.people.models import Person
from backend.qr import qr_svg_data_uri
from backend.shared_state import SharedState

router = APIRouter(tags=["family"])
GrantId = Annotated[str, Path(min_length=1, max_length=64)]
Token = Annotated[str, Path(min_length=1, max_length=128)]


def _terms(body: TermsIn) -> service.Terms:
    return service.Terms(relationship=body.relationship, scope=body.scope, kinds=tuple(body.kinds),
                         expires_at=body.expires_at, may_share=body.may_share, may_grant=body.may_grant)


@router.post("/people/{person_id}/invitations", response_model=InvitationOut, status_code=201,
             summary="Invite a family member (single-use link + QR code, valid 24 h)")
def create_invitation(access: ReadablePerson, body: TermsIn, session: SessionDep, settings: SettingsDep,
                      who: CurrentAccount) -> InvitationOut:
    row, token = service.create_invitation(session, access=access, account_id=who.account_id, terms=_terms(body))
    url = f"{settings.public_url}/invite/{token}"
    return InvitationOut(id=row.id, url=url, token=token, qr_svg=qr_svg_data_uri(url=url), expires_at=row.expires_at)


@router.get("/invitations/{token}", response_model=InvitationPreview, summary="What an invitation offers")
def preview_invitation(token: Token, session: SessionDep, who: CurrentAccount) -> InvitationPreview:
    del who  # any logged-in account may look at an invitation it holds the token of
    row = service.find_invitation(session, token=token)
    person = session.get(Person, row.person_id)
    status = "used" if row.used_at else ("expired" if aware(row.expires_at) <= utcnow() else "open")
    return InvitationPreview(
        person_name=mask_name(person.name) if person else "", relationship=row.relationship,
        relationship_label=rules.relationship_label(row.relationship)[0], scope=row.scope,
        kinds=[k for k in (row.kinds or "").split(",") if k], grant_expires_at=row.grant_expires_at,
        expires_at=row.expires_at, status=status,
    )


@router.post("/invitations/{token}/accept", response_model=GrantOut, status_code=201,
             summary="The invitee's account accepts: the grant starts")
def accept_invitation(token: Token, session: SessionDep, who: CurrentAccount) -> GrantOut:
    return views.grant_out(session, service.accept_invitation(session, token=token, account_id=who.account_id))


@router.post("/grant-requests", response_model=RequestOut, status_code=202,
             summary="Ask a person for access (the answer never says whether they exist)")
def request_access(body: RequestIn, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
                   who: CurrentAccount) -> RequestOut:
    service.request_access(session, settings=settings, state=state, account_id=who.account_id,
                           name=body.name, resident_id=body.resident_id, terms=_terms(body))
    return RequestOut()


@router.post("/grants/{grant_id}/confirm", response_model=GrantOut, summary="The person confirms a pending grant")
def confirm_grant(grant_id: GrantId, session: SessionDep, who: CurrentAccount) -> GrantOut:
    return views.grant_out(session, service.answer(session, grant_id=grant_id, account_id=who.account_id, confirm=True))


@router.post("/grants/{grant_id}/decline", response_model=GrantOut, summary="The person declines a pending grant")
def decline_grant(grant_id: GrantId, session: SessionDep, who: CurrentAccount) -> GrantOut:
    grant = service.answer(session, grant_id=grant_id, account_id=who.account_id, confirm=False)
    return views.grant_out(session, grant)


@router.get("/people/{person_id}/grants", response_model=list[GrantOut], summary="Who has family access")
def list_grants(access: ReadablePerson, session: SessionDep, response: Response) -> list[GrantOut]:
    if not isinstance(access.principal, AccountPrincipal):  # a doctor's share session has no business here
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    response.headers["Cache-Control"] = "no-store"
    grants = service.grants_of_person(session, access=access)
    seen = visibility.last_viewed(session, grant_ids=[g.id for g in grants])  # the person's side only
    return [views.grant_out(session, g, last_viewed_at=seen.get(g.id)) for g in grants]


@router.get("/grants", response_model=list[GrantOut], summary="Grants this account holds (as a relative)")
def held_grants(session: SessionDep, who: CurrentAccount, response: Response) -> list[GrantOut]:
    response.headers["Cache-Control"] = "no-store"
    return [views.grant_out(session, g) for g in service.grants_held(session, account_id=who.account_id)]


@router.put("/grants/{grant_id}/visibility", response_model=GrantOut,
            summary="What one relative sees: record kinds and hidden studies (the person)")
def set_visibility(grant_id: GrantId, body: VisibilityIn, session: SessionDep, who: CurrentAccount) -> GrantOut:
    grant = visibility.update(session, grant_id=grant_id, principal=who, scope=body.scope, kinds=body.kinds,
                              hidden=body.hidden_study_ids)
    return views.grant_out(session, grant)


@router.delete("/grants/{grant_id}", status_code=204, summary="Revoke (the person) or leave (the relative)")
def end_grant(grant_id: GrantId, session: SessionDep, who: CurrentAccount) -> Response:
    service.end(session, grant_id=grant_id, principal=who)
    return Response(status_code=204)


def _send(purpose: str, body: ProveIn, session: Session, settings: Settings, state: SharedState,
          who: AccountPrincipal) -> OtpOut:
    sent = paths.send_code(session, settings=settings, state=state, sms=sms_sender(settings),
                           account_id=who.account_id, purpose=purpose, name=body.name, resident_id=body.resident_id)
    return OtpOut(expires_in=sent.expires_in)


@router.post("/guardianships/otp", response_model=OtpOut, summary="Code to the phone registered for a child (<14)")
def guardian_otp(body: ProveIn, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
                 who: CurrentAccount) -> OtpOut:
    return _send(GUARDIAN, body, session, settings, state, who)


@router.post("/guardianships", response_model=GrantOut, status_code=201, summary="Become a child's guardian proxy")
def become_guardian(body: GuardianIn, session: SessionDep, settings: SettingsDep,
                    who: CurrentAccount) -> GrantOut:
    grant = paths.become_guardian(session, settings=settings, account_id=who.account_id, name=body.name,
                                  resident_id=body.resident_id, code=body.otp, relationship=body.relationship)
    return views.grant_out(session, grant)


@router.post("/elder-proxies/otp", response_model=OtpOut, summary="Code to the phone registered for an elder")
def elder_otp(body: ProveIn, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
              who: CurrentAccount) -> OtpOut:
    return _send(ELDER, body, session, settings, state, who)


@router.post("/elder-proxies", response_model=GrantOut, status_code=201,
             summary="Act for an elder without a phone (their consent statement recorded)")
def proxy_for_elder(body: ElderIn, session: SessionDep, settings: SettingsDep,
                    who: CurrentAccount) -> GrantOut:
    grant = paths.proxy_for_elder(session, settings=settings, sms=sms_sender(settings), account_id=who.account_id,
                                  name=body.name, resident_id=body.resident_id, code=body.otp, terms=_terms(body),
                                  statement=body.consent_statement)
    return views.grant_out(session, grant)
