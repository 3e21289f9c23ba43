"""Index rows for instances whose blobs are already durable: study / series get-or-create, instance
inserts, counters, patient matching. Runs inside ONE write transaction per STOW-RS batch
(:meth:`backend.ingest.service.StowBatch.flush`).

Races between clients (several uploads of one study, any number of workers) are decided by the
unique keys of :mod:`backend.studies.models`: an insert that loses fails inside its savepoint and the
winner's row is used instead. Counters are added with ``x = x + n`` so concurrent batches add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

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

    def index(self, batch: list[Accepted]) -> list[tuple[Accepted, str | None]]:
        """Insert the batch's rows: all at once in one savepoint (the usual case), else one by one so
        that a row another client inserted meanwhile only affects that row. Returns (item, verdict):
        None = stored now, ALREADY_STORED, or CONFLICT (same UID, other bytes)."""
        placed: list[tuple[Accepted, Study, Series, bool]] = []
        studies: dict[str, Study] = {}
        series_by_uid: dict[tuple[str, str], Series] = {}
        for item in batch:
            study = studies.get(item.parsed.study_instance_uid)
            if study is None:
                study = studies[item.parsed.study_instance_uid] = self._study(item)
            else:
                _earliest_acquisition(study, item.meta)
            self.study_uids.add(study.study_instance_uid)
            series = series_by_uid.get((study.id, item.parsed.series_instance_uid))
            created = False
            if series is None:
                series, created = self._series(study, item)
                series_by_uid[(study.id, item.parsed.series_instance_uid)] = series
            placed.append((item, study, series, created))
        rows = [self._row(item, study, series) for item, study, series, _ in placed]
        try:
            with self.session.begin_nested():
                self.session.execute(insert(Instance), rows)  # one INSERT … VALUES for the batch
            verdicts: list[str | None] = [None] * len(placed)
        except IntegrityError:  # the savepoint rolled the batch back: row by row, each in its own
            verdicts = [self._insert_one(row, item) for row, (item, _, _, _) in zip(rows, placed, strict=True)]
        self.rows.update({item.parsed.sop_instance_uid: row for row, (item, _, _, _), verdict
                          in zip(rows, placed, verdicts, strict=True) if verdict is None})
        per_series: dict[str, int] = {}
        for (item, study, series, created), verdict in zip(placed, verdicts, strict=True):
            counts = self.touched.setdefault(study.id, [0, 0, 0])
            counts[2] += 1 if created else 0
            if verdict is None:
                counts[0] += 1
                counts[1] += item.size
                per_series[series.id] = per_series.get(series.id, 0) + 1
        for series_id, count in per_series.items():
            self.session.execute(
                update(Series).where(col(Series.id) == series_id).values(instance_count=Series.instance_count + count)
            )
        return [(item, verdict) for (item, _, _, _), verdict in zip(placed, verdicts, strict=True)]

    def finish(self) -> None:
        """Study counters, modalities and the timeline entry of every study this batch touched."""
        now = utcnow()
        for study_id, (count, size, new_series) in self.touched.items():
            self.session.execute(
                update(Study)
                .where(col(Study.id) == study_id)
                .values(
                    instance_count=Study.instance_count + count,
                    total_bytes=Study.total_bytes + size,
                    series_count=Study.series_count + new_series,
                    last_received_at=now,
                )
            )
            _refresh_modalities(self.session, study_id)
            _announce_to_timeline(self.session, study_id)

    def _row(self, item: Accepted, study: Study, series: Series) -> dict[str, Any]:
        return instance_values(
            item.parsed, item.meta, institution_id=self.institution_id, study_id=study.id,
            series_id=series.id, sha256=item.sha256, size=item.size,
        )

    def _insert_one(self, row: dict[str, Any], item: Accepted) -> str | None:
        try:
            with self.session.begin_nested():
                self.session.execute(insert(Instance), [row])
        except IntegrityError:
            existing = self.session.exec(
                select(Instance.sha256).where(
                    Instance.institution_id == self.institution_id,
                    Instance.sop_instance_uid == item.parsed.sop_instance_uid,
                )
            ).first()
            return ALREADY_STORED if existing == item.sha256 else CONFLICT
        return None

    def _study(self, item: Accepted) -> Study:
        uid = item.parsed.study_instance_uid
        query = select(Study).where(Study.institution_id == self.institution_id, Study.study_instance_uid == uid)
        found = self.session.exec(query).first()
        if found is not None:
            _earliest_acquisition(found, item.meta)
            return found
        study = study_row(item.meta, institution_id=self.institution_id, study_uid=uid)
        resident_id = item.meta.patient.resident_id
        study.resident_id_index = (
            people.resident_id_index(settings=self.settings, resident_id=resident_id) if resident_id else None
        )
        try:
            with self.session.begin_nested():
                self.session.add(study)
        except IntegrityError:
            winner = self.session.exec(query).first()
            if winner is None:
                raise
            return winner
        with self.clock.stage("index.mpi"):
            self._match(study, item.meta)
        return study

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

    def _series(self, study: Study, item: Accepted) -> tuple[Series, bool]:
        uid = item.parsed.series_instance_uid
        query = select(Series).where(Series.study_id == study.id, Series.series_instance_uid == uid)
        found = self.session.exec(query).first()
        if found is not None:
            return found, False
        series = series_row(item.meta, study_id=study.id, series_uid=uid)
        try:
            with self.session.begin_nested():
                self.session.add(series)
        except IntegrityError:
            winner = self.session.exec(query).first()
            if winner is None:
                raise
            return winner, False
        return series, True


def _earliest_acquisition(study: Study, meta: InstanceMetadata) -> None:
    # The 12-hour rule measures from the earliest acquisition time of any instance of the study.
    acquired = meta.acquired_at
    if acquired is not None and (study.acquired_at is None or acquired < study.acquired_at):
        study.acquired_at = acquired


def _refresh_modalities(session: Session, study_id: str) -> None:
    # Runs after this transaction's UPDATE locked the study row, so it sees every committed series.
    found = session.exec(select(Series.modality).where(Series.study_id == study_id).distinct()).all()
    modalities = "\\".join(sorted({m for m in found if m}))[:128] or None
    session.execute(update(Study).where(col(Study.id) == study_id).values(modalities=modalities))


def _announce_to_timeline(session: Session, study_id: str) -> None:
    # Timeline entry + waiting diagnostic reports (records helper's hook, backend/studies/record_kind.py).
    study = session.get(Study, study_id)
    if study is not None:
        session.refresh(study)  # the bulk UPDATEs above bypassed the identity map
        record_kind.study_changed(session=session, study=study)
