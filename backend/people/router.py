"""Hospital-side MPI endpoint: ``PUT /api/v1/institution/patients/{local_patient_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from backend.api.deps import SessionDep, SettingsDep
from backend.crypto import decrypt
from backend.errors import Conflict, problem_response
from backend.institutions.deps import CurrentInstitution
from backend.people import service
from backend.people.schemas import PatientLinkOut, PatientRegistration

router = APIRouter(prefix="/institution", tags=["institution"])

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

    201 when the link is new, 200 when it already existed (PUT is idempotent; the phone is updated).
    409 when the local ID is already linked to a different resident ID (audited, never merged).
    Studies uploaded earlier under this local ID join the person's timeline now.
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
        )
    except Conflict as error:
        # Answer without raising so the session still commits the conflict's audit event.
        return problem_response(error, instance=f"/api/v1/institution/patients/{local_patient_id}")
    person = result.person
    phone_masked = None
    if person.phone_cipher:
        phone = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.phone_cipher)
        phone_masked = service.mask_phone(phone)
    response.status_code = 201 if result.created_link else 200
    response.headers["Cache-Control"] = "no-store"
    return PatientLinkOut(
        local_patient_id=result.link.local_patient_id,
        person_id=person.id,
        resident_id_masked=result.masked_resident_id,
        phone_masked=phone_masked,
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date,
        created=result.created_link,
        linked_at=result.link.created_at,
    )
