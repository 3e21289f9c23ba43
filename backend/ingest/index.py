"""Index rows for instances whose blobs are already durable: study / series get-or-create, instance
inserts, counters, patient matching. Runs inside ONE write transaction per STOW-RS batch
(:meth:`backend.ingest.service.StowBatch.flush`).

Races between clients (several uploads of one study, any number of workers) are decided by the
unique keys of :mod:`backend.studies.models`: an insert that loses fails inside its savepoint and the
winner's row is used instead. Counters are added with ``x = x + n`` so concurrent batches add up.

The usual batch adds instances to a study and a series that exist: one SELECT finds both, and the rows
and counters are written by Core statements on the tables (no ORM objects, no identity map to keep in
step). ORM objects are made only for a new study or series, and for the timeline's full hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.clock import utcnow
from backend.config import Settings
from backend.dicom.metadata import InstanceMetadata
from backend.dicom.parse import ParsedInstance
from backend.ingest.rows import instance_values, series_row, study_row
from backend.ingest.stages import StageClock
from backend.people import service as people
from backend.studies import record_kind
from backend.studies.models import Instance, Series, Study

ALREADY_STORED = "already stored"
CONFLICT = "conflict"

# The tables themselves: statements on the ORM classes take the ORM's bulk paths, which convert every row
# and synchronize the identity map — work this batch does not need.
STUDY: sa.Table = Study.__table__  # type: ignore[attr-defined]
SERIES: sa.Table = Series.__table__  # type: ignore[attr-defined]
INSTANCE: sa.Table = Instance.__table__  # type: ignore[attr-defined]

# The batch's statements are built once: building one (and its cache key) costs 0.1-0.2 CPU-ms, more than
# running it. Parameters are named apart from the columns (an UPDATE reserves the column names).
_KNOWN = (
    sa.select(STUDY.c.study_instance_uid, STUDY.c.id, SERIES.c.series_instance_uid, SERIES.c.id)
    .select_from(STUDY.outerjoin(SERIES, sa.and_(
        SERIES.c.study_id == STUDY.c.id,
        SERIES.c.series_instance_uid.in_(sa.bindparam("series_uids", expanding=True)))))
    .where(STUDY.c.institution_id == sa.bindparam("institution"),
           STUDY.c.study_instance_uid.in_(sa.bindparam("study_uids", expanding=True)))
)
_SHAS = sa.select(INSTANCE.c.sop_instance_uid, INSTANCE.c.sha256).where(
    INSTANCE.c.institution_id == sa.bindparam("institution"),
    INSTANCE.c.sop_instance_uid.in_(sa.bindparam("uids", expanding=True)))
_INSERT_INSTANCES = sa.insert(INSTANCE)
_COUNT_SERIES = (sa.update(SERIES).where(SERIES.c.id == sa.bindparam("series"))
                 .values(instance_count=SERIES.c.instance_count + sa.bindparam("added")))
_COUNT_STUDY = (
    sa.update(STUDY).where(STUDY.c.id == sa.bindparam("study"))
    .values(instance_count=STUDY.c.instance_count + sa.bindparam("instances"),
            total_bytes=STUDY.c.total_bytes + sa.bindparam("size"),
            series_count=STUDY.c.series_count + sa.bindparam("new_series"),
            last_received_at=sa.bindparam("now", type_=STUDY.c.last_received_at.type))
    .returning(STUDY.c.id, STUDY.c.institution_id, STUDY.c.study_instance_uid, STUDY.c.accession_number,
               STUDY.c.person_id, STUDY.c.series_count, STUDY.c.instance_count)  # record_kind.Counted
)
_ACQUIRED = sa.bindparam("acquired", type_=STUDY.c.acquired_at.type)
# The 12-hour rule measures from the earliest acquisition time of any instance of the study. Compared in
# the UPDATE, so that concurrent batches of one study cannot undo each other's.
_COUNT_STUDY_ACQUIRED = _COUNT_STUDY.values(acquired_at=sa.case(
    (sa.or_(STUDY.c.acquired_at.is_(None), STUDY.c.acquired_at > _ACQUIRED), _ACQUIRED), else_=STUDY.c.acquired_at))


def known_shas(*, connection: sa.Connection, institution_id: str, uids: list[str]) -> dict[str, str]:
    """SOP Instance UID -> SHA-256 of those of ``uids`` this institution has stored."""
    rows = connection.execute(_SHAS, {"institution": institution_id, "uids": uids}).tuples()
    return {uid: sha for uid, sha in rows}


@dataclass(slots=True)
class Accepted:
    """An uploaded instance that parsed; ``temp`` is its file in the blob store's .tmp until stored."""

    parsed: ParsedInstance
    meta: InstanceMetadata
    sha256: str
    size: int
    key: str
    temp: Path
    dicom_json: bytes | None = None  # encoded (ingest/parsing.py ParseResult)


@dataclass
class Indexer:
    session: Session
    settings: Settings
    institution_id: str
    touched: dict[str, list[int]] = field(default_factory=dict)  # study id -> [instances, bytes, new series]
    study_uids: set[str] = field(default_factory=set)
    matched: list[tuple[str, str]] = field(default_factory=list)  # (person id, study id) joined in this batch
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # SOP Instance UID -> the row inserted now
    clock: StageClock = field(default_factory=StageClock)  # the request's (ingest/stages.py): MPI measured apart
    earliest: dict[str, datetime] = field(default_factory=dict)  # study id -> earliest acquisition in the batch
    created: set[str] = field(default_factory=set)  # ids of the studies this batch inserted

    def index(self, batch: list[Accepted]) -> list[tuple[Accepted, str | None]]:
        """Insert the batch's rows: all at once in one savepoint (the usual case), else one by one so
        that a row another client inserted meanwhile only affects that row. Returns (item, verdict):
        None = stored now, ALREADY_STORED, or CONFLICT (same UID, other bytes)."""
        known = self._known(batch)
        placed: list[tuple[Accepted, str, str, bool]] = []  # (item, study id, series id, series made now)
        for item in batch:
            study_uid, series_uid = item.parsed.study_instance_uid, item.parsed.series_instance_uid
            study = known.get(study_uid)
            if study is None:
                study = known[study_uid] = (self._new_study(item), {})
            study_id, series_ids = study
            self.study_uids.add(study_uid)
            acquired = item.meta.acquired_at
            if acquired is not None and (study_id not in self.earliest or acquired < self.earliest[study_id]):
                self.earliest[study_id] = acquired
            series_id, created = series_ids.get(series_uid), False
            if series_id is None:
                series_id, created = self._new_series(study_id, item)
                series_ids[series_uid] = series_id
            placed.append((item, study_id, series_id, created))
        self.session.flush()  # a new study's person (_match) is written before the statements below
        rows = [self._row(item, study_id, series_id) for item, study_id, series_id, _ in placed]
        try:
            # The connection asked for inside the savepoint: that is what emits SAVEPOINT (the session's
            # nested transaction begins lazily); a statement on a connection taken before runs outside it.
            with self.session.begin_nested():
                self.session.connection().execute(_INSERT_INSTANCES, rows)  # one statement for the batch
            verdicts: list[str | None] = [None] * len(placed)
        except IntegrityError:  # the savepoint rolled the batch back: row by row, each in its own
            verdicts = [self._insert_one(row, item) for row, (item, _, _, _) in zip(rows, placed, strict=True)]
        self.rows.update({item.parsed.sop_instance_uid: row for row, (item, _, _, _), verdict
                          in zip(rows, placed, verdicts, strict=True) if verdict is None})
        per_series: dict[str, int] = {}
        for (item, study_id, series_id, created), verdict in zip(placed, verdicts, strict=True):
            counts = self.touched.setdefault(study_id, [0, 0, 0])
            counts[2] += 1 if created else 0
            if verdict is None:
                counts[0] += 1
                counts[1] += item.size
                per_series[series_id] = per_series.get(series_id, 0) + 1
        connection = self.session.connection()
        for series_id, count in per_series.items():
            connection.execute(_COUNT_SERIES, {"series": series_id, "added": count})
        return [(item, verdict) for (item, _, _, _), verdict in zip(placed, verdicts, strict=True)]

    def finish(self) -> None:
        """Study counters, modalities and the timeline entry of every study this batch touched."""
        now = utcnow()
        connection = self.session.connection()
        for study_id, (count, size, new_series) in self.touched.items():
            values: dict[str, Any] = {"study": study_id, "instances": count, "size": size,
                                      "new_series": new_series, "now": now}
            earliest = self.earliest.get(study_id)
            if earliest is None:
                counted = connection.execute(_COUNT_STUDY, values).first()
            else:
                counted = connection.execute(_COUNT_STUDY_ACQUIRED, {**values, "acquired": earliest}).first()
            if new_series:
                _refresh_modalities(self.session, study_id)
            if counted is None:
                continue
            # The timeline entry: its counts only, when the batch added instances to series the study had
            # (the usual batch); everything again after a new study or series.
            if new_series or study_id in self.created or not record_kind.study_counted(
                    session=self.session, study=record_kind.Counted(*counted)):
                _announce_to_timeline(self.session, study_id)

    def _row(self, item: Accepted, study_id: str, series_id: str) -> dict[str, Any]:
        return instance_values(
            item.parsed, item.meta, institution_id=self.institution_id, study_id=study_id,
            series_id=series_id, sha256=item.sha256, size=item.size,
        )

    def _known(self, batch: list[Accepted]) -> dict[str, tuple[str, dict[str, str]]]:
        """Study UID -> (study id, {series UID: series id}) for the batch's studies that exist, with
        those of the batch's series that exist: one query."""
        parameters = {"institution": self.institution_id,
                      "study_uids": sorted({item.parsed.study_instance_uid for item in batch}),
                      "series_uids": sorted({item.parsed.series_instance_uid for item in batch})}
        known: dict[str, tuple[str, dict[str, str]]] = {}
        for study_uid, study_id, series_uid, series_id in self.session.connection().execute(_KNOWN, parameters):
            series_ids = known.setdefault(study_uid, (study_id, {}))[1]
            if series_uid is not None:
                series_ids[series_uid] = series_id
        return known

    def _insert_one(self, row: dict[str, Any], item: Accepted) -> str | None:
        try:
            with self.session.begin_nested():
                self.session.connection().execute(_INSERT_INSTANCES, [row])
        except IntegrityError:
            existing = self.session.connection().execute(
                sa.select(INSTANCE.c.sha256).where(
                    INSTANCE.c.institution_id == self.institution_id,
                    INSTANCE.c.sop_instance_uid == item.parsed.sop_instance_uid,
                )
            ).scalar()
            return ALREADY_STORED if existing == item.sha256 else CONFLICT
        return None

    def _new_study(self, item: Accepted) -> str:
        """The id of a study the lookup did not find: inserted now and matched to its person, or, when
        another client inserted it meanwhile, the winner's."""
        uid = item.parsed.study_instance_uid
        study = study_row(item.meta, institution_id=self.institution_id, study_uid=uid)
        resident_id = item.meta.patient.resident_id
        study.resident_id_index = (
            people.resident_id_index(settings=self.settings, resident_id=resident_id) if resident_id else None
        )
        try:
            with self.session.begin_nested():
                self.session.add(study)
        except IntegrityError:
            winner = self.session.connection().execute(
                sa.select(STUDY.c.id).where(STUDY.c.institution_id == self.institution_id,
                                            STUDY.c.study_instance_uid == uid)).scalar()
            if winner is None:
                raise
            return str(winner)
        self.created.add(study.id)
        with self.clock.stage("index.mpi"):
            self._match(study, item.meta)
        return study.id

    def _match(self, study: Study, meta: InstanceMetadata) -> None:
        """A new study joins its person: by the hospital's local patient ID, else by a resident ID
        carried in the header (OtherPatientIDsSequence, issuer CN-RID; see backend.people.service)."""
        person_id = people.resolve_person(
            session=self.session, institution_id=study.institution_id, local_patient_id=study.local_patient_id,
            resident_id_index=study.resident_id_index,
        )
        if person_id is None and meta.patient.resident_id:
            linked = people.link_by_resident_id(
                session=self.session, settings=self.settings, institution_id=study.institution_id,
                local_patient_id=study.local_patient_id, resident_id=meta.patient.resident_id,
                name=meta.patient.display_name,
            )
            if linked is not None:
                person_id = linked.person_id
                self.matched += [(j.person_id, j.ref_id) for j in linked.joined if j.kind == "imaging_study"]
        if person_id is not None:
            self.session.refresh(study)
            if study.person_id is None:
                study.person_id, study.matched_at = person_id, utcnow()
                self.session.add(study)
                self.matched.append((person_id, study.id))

    def _new_series(self, study_id: str, item: Accepted) -> tuple[str, bool]:
        """(id, True) of a series the lookup did not find, inserted now; (the winner's id, False) when
        another client inserted it meanwhile."""
        uid = item.parsed.series_instance_uid
        series = series_row(item.meta, study_id=study_id, series_uid=uid)
        try:
            with self.session.begin_nested():
                self.session.add(series)
        except IntegrityError:
            winner = self.session.connection().execute(
                sa.select(SERIES.c.id).where(SERIES.c.study_id == study_id,
                                             SERIES.c.series_instance_uid == uid)).scalar()
            if winner is None:
                raise
            return str(winner), False
        return series.id, True


def _refresh_modalities(session: Session, study_id: str) -> None:
    # Only a new series can add a modality, so only a batch that made one runs this: after its UPDATE of
    # the counters locked the study row, so it sees every committed series, and of several batches that
    # add series at once the last to get the lock sees them all.
    connection = session.connection()
    found = connection.execute(sa.select(SERIES.c.modality).where(SERIES.c.study_id == study_id).distinct())
    modalities = "\\".join(sorted({m for (m,) in found if m}))[:128] or None
    connection.execute(sa.update(STUDY).where(STUDY.c.id == study_id).values(modalities=modalities))


def _announce_to_timeline(session: Session, study_id: str) -> None:
    # Timeline entry + waiting diagnostic reports (records helper's hook, backend/studies/record_kind.py).
    # populate_existing: a study made in this batch is in the identity map, and the UPDATEs above
    # bypassed it.
    study = session.get(Study, study_id, populate_existing=True)
    if study is not None:
        record_kind.study_changed(session=session, study=study)
