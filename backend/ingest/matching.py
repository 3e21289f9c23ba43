"""Studies join a person: at ingest (by local patient ID or CN-RID resident ID) and later, when the
hospital's registration arrives (an MPI hook, listed in backend/plugins.py). Nothing is ever dropped: a
study without a known patient stays in the index with ``person_id`` NULL until then.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.clock import utcnow
from backend.db import session_scope
from backend.people.models import Person
from backend.people.service import Joined
from backend.studies.models import Study

log = logging.getLogger("yunying.imaging")


def match_waiting_studies(*, session: Session, institution_id: str, local_patient_id: str,
                          person_id: str) -> list[Joined]:
    """Attach this hospital's unmatched studies of ``local_patient_id`` (and any study, from any
    hospital, that carried this person's resident ID in its header) to ``person_id``."""
    person_index = session.exec(select(Person.resident_id_index).where(Person.id == person_id)).first()
    same_local = (col(Study.institution_id) == institution_id) & (col(Study.local_patient_id) == local_patient_id)
    condition = or_(same_local, col(Study.resident_id_index) == person_index) if person_index else same_local
    ids = list(session.exec(select(Study.id).where(col(Study.person_id).is_(None), condition)).all())
    if not ids:
        return []
    session.execute(
        update(Study)
        .where(col(Study.id).in_(ids), col(Study.person_id).is_(None))
        .values(person_id=person_id, matched_at=utcnow())
    )
    return [Joined(person_id=person_id, kind="imaging_study", ref_id=sid) for sid in ids]


def announce(*, engine: Engine, matched: list[tuple[str, str]]) -> None:
    """Tell the people concerned that new studies arrived (WeChat template message outbox), after the
    ingest transaction committed. A failure to notify never fails an upload: the study is stored.
    ``notify_new_record`` dedupes by record, so the timeline's own notice for the study is not doubled."""
    from backend.notify import service as notify  # late: notify depends on access, which imports imaging models

    for person_id, study_id in matched:
        try:
            with session_scope(engine) as session:
                notify.notify_new_record(session=session, person_id=person_id, record_id=study_id,
                                         record_kind="imaging_study")
        except Exception:  # noqa: BLE001 - logged, never raised into the upload
            log.warning("notification for a new study failed")
