"""One way to store what a hospital sends, again and again: a record addressed by the hospital's own key
(a report's accession number, a lab panel's report id, a checkup id) through an idempotent PUT.

The three hospital feeds (reports, lab panels, checkups) share the skeleton here:

* the same content again adds nothing (the revision's SHA-256 of the canonical JSON equals the latest);
* changed content is the next version, kept whole in ``record_revision`` (amendments keep history);
* only a change is audited (``<kind>.put``: CREATE the first time, UPDATE after), against the person
  the record belongs to once the MPI knows it.

What differs per kind — which columns a version sets, child rows, matching a report to its study —
is the ``apply`` callback: it receives the row with its new version and returns the person id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlmodel import Session, select

from backend.access import audit
from backend.access.principals import InstitutionPrincipal
from backend.clock import utcnow
from backend.records.models import TimelineEntry
from backend.records.service import save_revision


class VersionedRow(Protocol):
    id: str
    version: int
    updated_at: datetime


R = TypeVar("R", bound=VersionedRow)


@dataclass(frozen=True, slots=True)
class Stored(Generic[R]):
    row: R
    changed: bool
    created: bool
    person_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def person_on_timeline(session: Session, *, kind: str, ref_id: str) -> str | None:
    return session.exec(select(TimelineEntry.person_id).where(TimelineEntry.kind == kind,
                                                              TimelineEntry.ref_id == ref_id)).first()


def put_versioned(
    session: Session, *, principal: InstitutionPrincipal, kind: str, event_type: str, existing: R | None,
    new: Callable[[], R], content: dict[str, Any], status: str | None, apply: Callable[[R], str | None],
    unchanged_person: Callable[[R], str | None], force: bool = False,
    audit_detail: Callable[[R], dict[str, Any]] | None = None,
) -> Stored[R]:
    """Store ``content`` as the record's next version unless it is the latest already.

    ``force``: apply even when the content is the same (a lab panel newly claimed by a checkup); such a
    change of links only is not a new version and is not audited as one.
    """
    created = existing is None
    row = existing if existing is not None else new()
    revision = save_revision(session=session, kind=kind, ref_id=row.id, content=content, status=status)
    if not (revision.changed or force):
        return Stored(row=row, changed=False, created=False, person_id=unchanged_person(row))
    row.version = revision.version
    row.updated_at = utcnow()
    person_id = apply(row)
    if revision.changed:
        audit.record(session, principal=principal, action=audit.CREATE if created else audit.UPDATE,
                     event_type=event_type, object_type=kind, object_id=row.id, person_id=person_id,
                     detail={"version": row.version, **(audit_detail(row) if audit_detail else {})})
    return Stored(row=row, changed=True, created=created, person_id=person_id)
