"""HTTP for family access (all under /api/v1). Thin: the work is in service.py and paths.py; person
routes authorize through ``ReadablePerson`` (the one policy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session, select

from backend.access.principals import AccountPrincipal
from backend.api.deps import CurrentPrincipal, ReadablePerson, SessionDep, SettingsDep
from backend.auth.models import Account, Binding
from backend.auth.router import require_account, state_for
from backend.auth.schemas import OtpOut
from backend.auth.sms import sms_sender
from backend.errors import NotFound
from backend.family import paths, rules, service
from backend.family.models import ELDER, GUARDIAN, Grant
from backend.family.schemas import (
    ConsentEvidence,
    ElderIn,
    GrantOut,
    GuardianIn,
    InvitationOut,
    InvitationPreview,
    ProveIn,
    RequestIn,
    RequestOut,
    TermsIn,
)
from backend.ids import utcnow
from backend.pdf.qr import qr_svg_data_uri
from backend.people.masking import mask_account_name, mask_name
from backend.people.models import Person

router = APIRouter(tags=["family"])
GrantId = Annotated[str, Path(min_length=1, max_length=64)]
Token = Annotated[str, Path(min_length=1, max_length=128)]


def _terms(body: TermsIn) -> service.Terms:
    return service.Terms(relationship=body.relationship, scope=body.scope, kinds=tuple(body.kinds),
                         expires_at=body.expires_at, may_share=body.may_share, may_grant=body.may_grant)


def _account_name(session: Session, account_id: str) -> str | None:
    person_id = session.exec(select(Binding.person_id).where(
        Binding.account_id == account_id, Binding.revoked_at.is_(None))).first()  # type: ignore[union-attr]
    person = session.get(Person, person_id) if person_id else None
    if person is not None:
        return mask_account_name(person.name)
    account = session.get(Account, account_id)
    return mask_account_name(account.nickname) if account and account.nickname else None


def grant_out(session: Session, grant: Grant) -> GrantOut:
    person = session.get(Person, grant.grantor_person_id)
    zh, en = rules.relationship_label(grant.relationship)
    return GrantOut(
        id=grant.id, person_id=grant.grantor_person_id, person_name=mask_name(person.name) if person else "",
        grantee_account_id=grant.grantee_account_id, grantee_name=_account_name(session, grant.grantee_account_id),
        relationship=grant.relationship, relationship_label=zh, relationship_label_en=en, kind=grant.kind,
        scope=grant.scope, kinds=[k for k in (grant.kinds or "").split(",") if k], expires_at=grant.expires_at,
        status=rules.effective_status(grant), may_share=grant.may_share, may_grant=grant.may_grant,
        created_at=grant.created_at, ended_at=grant.ended_at,
        consent=ConsentEvidence(method=grant.consent_method, account_id=grant.consent_account_id,
                                statement=grant.consent_statement, phone_masked=grant.consent_phone_masked,
                                at=grant.consented_at, teen_confirmed_at=grant.teen_confirmed_at),
    )


@router.post("/people/{person_id}/invitations", response_model=InvitationOut, status_code=201,
             summary="Invite a family member (single-use link + QR code, valid 24 h)")
def create_invitation(access: ReadablePerson, body: TermsIn, session: SessionDep, settings: SettingsDep,
                      principal: CurrentPrincipal) -> InvitationOut:
    who = require_account(principal)
    row, token = service.create_invitation(session, access=access, account_id=who.account_id, terms=_terms(body))
    url = f"{settings.public_url}/invite/{token}"
    return InvitationOut(id=row.id, url=url, token=token, qr_svg=qr_svg_data_uri(url=url), expires_at=row.expires_at)


@router.get("/invitations/{token}", response_model=InvitationPreview, summary="What an invitation offers")
def preview_invitation(token: Token, session: SessionDep, principal: CurrentPrincipal) -> InvitationPreview:
    require_account(principal)
    row = service.find_invitation(session, token=token)
    person = session.get(Person, row.person_id)
    status = "used" if row.used_at else ("expired" if rules._aware(row.expires_at) <= utcnow() else "open")
    return InvitationPreview(
        person_name=mask_name(person.name) if person else "", relationship=row.relationship,
        relationship_label=rules.relationship_label(row.relationship)[0], scope=row.scope,
        kinds=[k for k in (row.kinds or "").split(",") if k], grant_expires_at=row.grant_expires_at,
        expires_at=row.expires_at, status=status,
    )


@router.post("/invitations/{token}/accept", response_model=GrantOut, status_code=201,
             summary="The invitee's account accepts: the grant starts")
def accept_invitation(token: Token, session: SessionDep, principal: CurrentPrincipal) -> GrantOut:
    who = require_account(principal)
    return grant_out(session, service.accept_invitation(session, token=token, account_id=who.account_id))


@router.post("/grant-requests", response_model=RequestOut, status_code=202,
             summary="Ask a person for access (the answer never says whether they exist)")
def request_access(request: Request, body: RequestIn, session: SessionDep, settings: SettingsDep,
                   principal: CurrentPrincipal) -> RequestOut:
    who = require_account(principal)
    service.request_access(session, settings=settings, state=state_for(request, settings), account_id=who.account_id,
                           name=body.name, resident_id=body.resident_id, terms=_terms(body))
    return RequestOut()


@router.post("/grants/{grant_id}/confirm", response_model=GrantOut, summary="The person confirms a pending grant")
def confirm_grant(grant_id: GrantId, session: SessionDep, principal: CurrentPrincipal) -> GrantOut:
    who = require_account(principal)
    return grant_out(session, service.answer(session, grant_id=grant_id, account_id=who.account_id, confirm=True))


@router.post("/grants/{grant_id}/decline", response_model=GrantOut, summary="The person declines a pending grant")
def decline_grant(grant_id: GrantId, session: SessionDep, principal: CurrentPrincipal) -> GrantOut:
    who = require_account(principal)
    return grant_out(session, service.answer(session, grant_id=grant_id, account_id=who.account_id, confirm=False))


@router.get("/people/{person_id}/grants", response_model=list[GrantOut], summary="Who has family access")
def list_grants(access: ReadablePerson, session: SessionDep, response: Response) -> list[GrantOut]:
    if not isinstance(access.principal, AccountPrincipal):  # a doctor's share session has no business here
        raise NotFound("No such person.", code="person-not-found")
    response.headers["Cache-Control"] = "no-store"
    return [grant_out(session, g) for g in service.grants_of_person(session, access=access)]


@router.get("/grants", response_model=list[GrantOut], summary="Grants this account holds (as a relative)")
def held_grants(session: SessionDep, principal: CurrentPrincipal, response: Response) -> list[GrantOut]:
    who = require_account(principal)
    response.headers["Cache-Control"] = "no-store"
    return [grant_out(session, g) for g in service.grants_held(session, account_id=who.account_id)]


@router.delete("/grants/{grant_id}", status_code=204, summary="Revoke (the person) or leave (the relative)")
def end_grant(grant_id: GrantId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    who = require_account(principal)
    service.end(session, grant_id=grant_id, principal=who)
    return Response(status_code=204)


def _send(request: Request, purpose: str, body: ProveIn, session: Session, principal: CurrentPrincipal) -> OtpOut:
    who = require_account(principal)
    settings = request.app.state.settings
    sent = paths.send_code(session, settings=settings, state=state_for(request, settings), sms=sms_sender(settings),
                           account_id=who.account_id, purpose=purpose, name=body.name, resident_id=body.resident_id)
    return OtpOut(expires_in=sent.expires_in)


@router.post("/guardianships/otp", response_model=OtpOut, summary="Code to the phone registered for a child (<14)")
def guardian_otp(request: Request, body: ProveIn, session: SessionDep, principal: CurrentPrincipal) -> OtpOut:
    return _send(request, GUARDIAN, body, session, principal)


@router.post("/guardianships", response_model=GrantOut, status_code=201, summary="Become a child's guardian proxy")
def become_guardian(body: GuardianIn, session: SessionDep, settings: SettingsDep,
                    principal: CurrentPrincipal) -> GrantOut:
    who = require_account(principal)
    grant = paths.become_guardian(session, settings=settings, account_id=who.account_id, name=body.name,
                                  resident_id=body.resident_id, code=body.otp, relationship=body.relationship)
    return grant_out(session, grant)


@router.post("/elder-proxies/otp", response_model=OtpOut, summary="Code to the phone registered for an elder")
def elder_otp(request: Request, body: ProveIn, session: SessionDep, principal: CurrentPrincipal) -> OtpOut:
    return _send(request, ELDER, body, session, principal)


@router.post("/elder-proxies", response_model=GrantOut, status_code=201,
             summary="Act for an elder without a phone (their consent statement recorded)")
def proxy_for_elder(body: ElderIn, session: SessionDep, settings: SettingsDep,
                    principal: CurrentPrincipal) -> GrantOut:
    who = require_account(principal)
    grant = paths.proxy_for_elder(session, settings=settings, sms=sms_sender(settings), account_id=who.account_id,
                                  name=body.name, resident_id=body.resident_id, code=body.otp, terms=_terms(body),
                                  statement=body.consent_statement)
    return grant_out(session, grant)
