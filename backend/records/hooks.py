"""MPI hook: records that arrived before the hospital registered the patient join the person.

Listed in ``backend/plugins.py`` (installed in every process that links).
"""

from __future__ import annotations

from sqlmodel import Session

from backend.people.service import Joined
from backend.records import service


def join_waiting_records(*, session: Session, institution_id: str, local_patient_id: str,
                         person_id: str) -> list[Joined]:
    service.link_unmatched(session=session, institution_id=institution_id, local_patient_id=local_patient_id,
                           person_id=person_id)
    return []  # timeline entries join quietly: their records announce themselves (records.sync)
