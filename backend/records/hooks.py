"""MPI hook: records that arrived before the hospital registered the patient join the person.

Listed in ``backend.people.service.HOOK_MODULES`` so it is loaded in every process that links.
"""

from __future__ import annotations

from sqlmodel import Session

from backend.people.service import on_person_linked
from backend.records import service


@on_person_linked
def join_waiting_records(*, session: Session, institution_id: str, local_patient_id: str, person_id: str) -> None:
    service.link_unmatched(session=session, institution_id=institution_id, local_patient_id=local_patient_id,
                           person_id=person_id)
