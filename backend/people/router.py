"""Hospital-side MPI endpoint: ``PUT /api/v1/institution/patients/{local_patient_id}``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from backend.access.principals import AccountPrincipal
from backend.access.service import PersonAccess
from backend.api.deps import ReadablePerson, SessionDep, SettingsDep
from backend.api.problems import problem_response
from backend.auth.sms import sms_sender
from backend.errors import Conflict, NotFound
from backend.institutions.deps import CurrentInstitution
from backend.people import contacts, service
from backend.people.masking import mask_phone, mask_resident_parts
from backend.people.models import Person
from backend.people.resident_id import parse_resident_id
from backend.people.schemas import ContactsOut, HospitalContactOut, PatientLinkOut, PatientRegistration, PhoneChangeOut

router = APIRouter(prefix="/institution", tags=["institution"])
patient_router = APIRouter(tags=["people"])
ChangeId = Annotated[str, Path(min_length=1, max_length=64)]

LocalPatientId = Annotated[str, Path(min_length=1, max_length=64, description="The hospital's patient ID (MRN)")]


@router.put(
    "/patients/{local_patient_id}",
    response_model=PatientLinkOut,
    responses={201: {"model": PatientLinkOut}, 409: {"description": "local ID registered with another resident ID"}},
)
def register_patient(
    local_patient_id: LocalPatientId,
    body: PatientRegistration,
    institution: CurrentInstitution,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> PatientLinkOut | JSONResponse:
    """Register a patient: links this hospital's local ID to the person with this resident ID.

    201 when the link is new, 200 when it already existed (PUT is idempotent).
    409 when the local ID is already linked to a different resident ID (audited, never merged).
    Studies uploaded earlier under this local ID join the person's timeline now.

    A registration only ever adds this hospital's own link and contact data: its phone becomes the
    phone that receives identity codes only when this registration creates the person, otherwise
    only with proof (the patient's confirmation, agreement of hospitals holding the person's
    records, or a 7-day notice to the old phone while nobody is bound). The answer echoes only what
    this request sent.
    """
    try:
        result = service.register_patient(
            session=session,
            settings=settings,
            institution_id=institution.institution_id,
            local_patient_id=local_patient_id,
            resident_id=body.resident_id,
            name=body.name,
            sex=body.sex,
            birth_date=body.birth_date,
            phone=body.phone,
            key_id=institution.key_id,
            sms=sms_sender(settings),
        )
    except Conflict as error:
        # Answer without raising so the session still commits the conflict's audit event.
        return problem_response(error, instance=f"/api/v1/institution/patients/{local_patient_id}")
    response.status_code = 201 if result.created_link else 200
    response.headers["Cache-Control"] = "no-store"
    rid = parse_resident_id(body.resident_id)  # register_patient validated it
    return PatientLinkOut(
        local_patient_id=result.link.local_patient_id,
        resident_id_masked=mask_resident_parts(rid.number[:4], rid.number[-4:]),
        phone_masked=mask_phone(body.phone) if body.phone else None,
        name=body.name,
        sex=body.sex or rid.sex,
        birth_date=body.birth_date or rid.birth_date,
        created=result.created_link,
        linked_at=result.link.created_at,
    )


def _own(access: PersonAccess, *, manage: bool) -> None:
    """Contacts are the person's own: their bound account, and (read-only) a guardian of a child under 14."""
    if access.relation == "self" or (access.guardian and not manage):
        return
    raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")


def _contacts_out(view: contacts.ContactsView) -> ContactsOut:
    return ContactsOut(
        verified_phone=view.verified_phone, verified_at=view.verified_at, source=view.source,
        hospitals=[HospitalContactOut(institution_name=h.institution_name, phone_masked=h.phone_masked,
                                      updated_at=h.updated_at) for h in view.hospitals],
        pending_changes=[PhoneChangeOut(id=c.id, phone_masked=c.phone_masked, proposed_by=c.proposed_by,
                                        created_at=c.created_at, effective_at=c.effective_at) for c in view.pending],
    )


def _person(session: SessionDep, access: PersonAccess) -> Person:
    person = session.get(Person, access.person_id)
    if person is None:
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    return person


@patient_router.get("/people/{person_id}/contacts", response_model=ContactsOut)
def get_contacts(access: ReadablePerson, session: SessionDep, settings: SettingsDep) -> ContactsOut:
    """The verified phone (the only one that receives identity codes), each hospital's registered contact
    phone, and phones hospitals proposed that wait for proof. The person (and a guardian of a child under 14)."""
    _own(access, manage=False)
    view = contacts.contacts_view(session, settings=settings, sms=sms_sender(settings), person=_person(session, access))
    access.audit(session, event_type="person.contacts.read", object_type="person", object_id=access.person_id)
    return _contacts_out(view)


@patient_router.post("/people/{person_id}/phone-changes/{change_id}/{decision}", response_model=ContactsOut)
def decide_phone_change(access: ReadablePerson, change_id: ChangeId, decision: Literal["confirm", "reject"],
                        session: SessionDep, settings: SettingsDep) -> ContactsOut:
    """The person's bound account confirms a hospital's proposed phone (it becomes the verified phone at
    once) or rejects it. Anyone else, and an unknown or settled proposal: 404."""
    _own(access, manage=True)
    assert isinstance(access.principal, AccountPrincipal)  # relation "self" is an account
    person = _person(session, access)
    sms = sms_sender(settings)
    done = contacts.decide(session, settings=settings, sms=sms, person=person,
                           account_id=access.principal.account_id, change_id=change_id, accept=decision == "confirm")
    if done is None:
        raise NotFound("No such phone change.", zh="未找到该手机号变更", code="phone-change-not-found")
    return _contacts_out(contacts.contacts_view(session, settings=settings, sms=sms, person=person))
