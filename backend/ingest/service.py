"""STOW-RS ingest: one uploaded part → a durable blob → an index row (DICOM PS3.18 §10.5).

The order of operations is the whole point (DESIGN.md rule 3):

1. the multipart reader has written the part to a temp file inside the blob store's ``.tmp``;
2. :meth:`StowBatch.accept` parses it defensively (no exception but ``DicomRejected``) and checks
   the path's StudyInstanceUID; the temp file joins the pending batch;
3. :meth:`StowBatch.flush` (every ``BATCH`` instances and at the end) looks the batch's SOP Instance
   UIDs up in one query (same bytes → "already stored"; other bytes → failure 0x0111 Duplicate SOP
   Instance, PS3.7 C.4, audited, original untouched), makes the new files durable under their
   content address — fsync → rename → fsync(dir), several files at once so that their fsyncs share
   journal commits — and only then writes the index rows in ONE short transaction (study / series
   get-or-create, instance insert in a savepoint). A row exists only for a blob that is already
   durable; a crash before the commit leaves only an unreferenced blob, which the next upload of
   the same bytes simply reuses.

Concurrency (several clients uploading one study, any number of workers) is decided by unique
keys; see :mod:`backend.ingest.index`, which writes the rows. Parsing and blob writes happen outside
the database transaction so the SQLite write lock (BEGIN IMMEDIATE) is held only for the inserts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.access import audit
from backend.access.principals import InstitutionPrincipal
from backend.config import Settings
from backend.db import READONLY, session_scope
from backend.dicom.dicomjson import FailedInstance, StoredInstance, StoreResponse, instance_url, study_url
from backend.dicom.errors import FailureReason
from backend.dicom.multipart import Part
from backend.dicom.parse import ParsedInstance, ParseLimits
from backend.ingest import matching
from backend.ingest.index import ALREADY_STORED, CONFLICT, Accepted, Indexer, known_shas
from backend.ingest.parsing import ParseResult, parse_file
from backend.ingest.stages import StageClock
from backend.previews import worker as previews_worker
from backend.storage.base import ObjectStore, Spooled
from backend.storage.keys import original_key
from backend.storage.service import META, area_beside
from backend.studies import seriesdoc

log = logging.getLogger("yunying.ingest")

BATCH = 64  # instances per index transaction
BATCH_BYTES = 256 * 1024**2


blob_key = original_key  # the content address of an original (storage/keys.py)


@dataclass(frozen=True)
class Detached:
    """Accepted instances taken out of a batch for one flush (:meth:`StowBatch.detach`)."""

    pending: list[Accepted]
    duplicates: list[ParsedInstance]


@dataclass
class StowBatch:
    """Collects the outcome of one STOW-RS request. Methods are blocking (run them in a thread)."""

    settings: Settings
    engine: Engine
    blobs: ObjectStore
    principal: InstitutionPrincipal
    base_url: str  # public DICOMweb root
    path_study_uid: str | None = None
    stored: list[StoredInstance] = field(default_factory=list)
    failed: list[FailedInstance] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)
    _pending: list[Accepted] = field(default_factory=list)
    _pending_bytes: int = 0
    _duplicates: list[ParsedInstance] = field(default_factory=list)
    clock: StageClock = field(default_factory=StageClock)

    @property
    def limits(self) -> ParseLimits:
        return ParseLimits(max_file_bytes=self.settings.max_instance_bytes, max_pixels=self.settings.max_pixels)

    # -- step 2 -----------------------------------------------------------------------------------
    def accept(self, part: Part) -> None:
        """Handle one part synchronously (parse inline): for callers without an event loop."""
        with self.clock.stage("parse"):
            result = None if part.rejected or part.path is None else parse_file(part.path, self.limits)
        self.take(part, result)
        if self.full:
            self.flush()

    @property
    def full(self) -> bool:
        return len(self._pending) >= BATCH or self._pending_bytes >= BATCH_BYTES

    def take(self, part: Part, result: ParseResult | None) -> None:
        """Record one parsed part (cheap, no I/O but unlinking): failed, or pending until :meth:`flush`.
        The part's temp file is kept while pending, removed otherwise."""
        if part.rejected or part.path is None or part.sha256 is None or result is None:
            self._fail(None, None, FailureReason.CANNOT_UNDERSTAND, part.rejected or "empty part")
            if part.path is not None:
                part.path.unlink(missing_ok=True)
            return
        if not self._take(part.path, result, sha256=part.sha256, size=part.size):
            part.path.unlink(missing_ok=True)

    def _take(self, path: Path, result: ParseResult, *, sha256: str, size: int) -> bool:
        parsed, meta = result.parsed, result.meta
        if parsed is None or meta is None:
            self._fail(parsed.sop_class_uid if parsed else None, parsed.sop_instance_uid if parsed else None,
                       result.code or FailureReason.CANNOT_UNDERSTAND, result.reason or "cannot parse")
            return False
        if self.path_study_uid is not None and parsed.study_instance_uid != self.path_study_uid:
            # PS3.18 §10.5.1: instances of other studies than the target resource fail.
            self._fail(
                parsed.sop_class_uid,
                parsed.sop_instance_uid,
                FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
                f"StudyInstanceUID {parsed.study_instance_uid} does not match the request's study",
            )
            return False
        earlier = next((p for p in self._pending if p.parsed.sop_instance_uid == parsed.sop_instance_uid), None)
        if earlier is not None:  # the same UID twice in one request
            if earlier.sha256 == sha256:
                self._ok(parsed, ALREADY_STORED)
            else:
                self._duplicates.append(parsed)  # audited and answered at the next flush
            return False
        self._pending.append(Accepted(parsed=parsed, meta=meta, sha256=sha256, size=size, key=blob_key(sha256),
                                      temp=path, dicom_json=result.dicom_json))
        self._pending_bytes += size
        return True

    def _existing_shas(self, uids: list[str]) -> dict[str, str]:
        # A bare connection, not a session: one SELECT in a read transaction (plain BEGIN on SQLite).
        with self.engine.connect().execution_options(**{READONLY: True}) as connection:
            return known_shas(connection=connection, institution_id=self.principal.institution_id, uids=uids)

    def _make_durable(self, batch: list[Accepted]) -> list[Accepted]:
        """Every new blob durable under its content address, the whole batch in one call of the store
        (storage ``put_files``: on the local directory the files' fsyncs run at once, then the renames,
        then one fsync per directory; on S3 concurrent PUTs). On the local directory bytes already stored
        under the address are not written again.
        Returns the items whose blob is now durable; the others fail with 0x0110 (processing failure)."""
        with self.clock.stage("store"):
            try:
                # identical bytes may be durable already; where writing them again is as cheap as asking
                # (S3), they are simply written again (storage/base.py probe_before_put)
                todo = [item for item in batch
                        if not (self.blobs.probe_before_put and self.blobs.exists(key=item.key))]
                stored = self.blobs.put_files(files=[Spooled(key=item.key, path=item.temp, sha256=item.sha256,
                                                                size=item.size) for item in todo])
            finally:
                for item in batch:
                    item.temp.unlink(missing_ok=True)
        refused = {id(item) for item, ok in zip(todo, stored, strict=True) if not ok}
        for item in batch:
            if id(item) in refused:  # the spooled file changed under us: never index it
                log.error("blob store write refused: checksum mismatch")
                self._fail(item.parsed.sop_class_uid, item.parsed.sop_instance_uid, FailureReason.PROCESSING_FAILURE,
                           "the file changed while it was stored; send it again")
        return [item for item in batch if id(item) not in refused]

    # -- step 3 -----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Index the accepted instances in one transaction; their outcomes are final after commit."""
        self.flush_detached(self.detach())

    def detach(self) -> Detached:
        """Take the accepted instances (and the same-UID conflicts to answer) out of the batch, for a
        :meth:`flush_detached` that may run in a thread while later parts are taken (dicomweb/router.py)."""
        detached = Detached(pending=self._pending, duplicates=self._duplicates)
        self._pending, self._pending_bytes, self._duplicates = [], 0, []
        return detached

    def flush_detached(self, detached: Detached) -> None:
        """:meth:`flush` of what :meth:`detach` took. One at a time, in the order detached: each
        looks up the UIDs the earlier ones indexed."""
        for parsed in detached.duplicates:
            self._conflict(parsed)
        pending = detached.pending
        if not pending:
            return
        with self.clock.stage("index"):
            known = self._existing_shas([item.parsed.sop_instance_uid for item in pending])
        fresh: list[Accepted] = []
        for item in pending:
            existing = known.get(item.parsed.sop_instance_uid)
            if existing is None:
                fresh.append(item)
                continue
            item.temp.unlink(missing_ok=True)
            if existing == item.sha256:
                self._ok(item.parsed, ALREADY_STORED)
            else:
                self._conflict(item.parsed)
        batch = self._make_durable(fresh)
        if not batch:
            return
        outcomes: list[tuple[Accepted, str | None]] = []  # None = stored, else a note
        conflicts: list[Accepted] = []
        with self.clock.stage("index"), session_scope(self.engine) as session:
            indexer = Indexer(session=session, settings=self.settings,
                              institution_id=self.principal.institution_id, clock=self.clock)
            for item, verdict in indexer.index(batch):
                if verdict == CONFLICT:
                    conflicts.append(item)
                else:
                    outcomes.append((item, verdict))
            indexer.finish()
            for item in conflicts:
                self._audit_conflict(session, item.parsed)
            matched = list(dict.fromkeys(indexer.matched))
            # Pre-rendering of the series that grew: outbox rows in this transaction (backend/jobs), so the
            # job exists if and only if the instances do.
            with self.clock.stage("index.outbox"):
                previews_worker.enqueue_studies(session=session, study_ids=indexer.touched)
            documents = _document_entries(outcomes, indexer.rows)
        self.studies |= indexer.study_uids
        for item, note in outcomes:
            self._ok(item.parsed, note)
        for item in conflicts:
            self._conflict_response(item.parsed)
        if matched:
            with self.clock.stage("mpi"):  # the new-study notices of the persons matched above
                matching.announce(engine=self.engine, matched=matched)
        with self.clock.stage("document"):
            meta = area_beside(self.blobs, META)
            for series_id, entries in documents.items():  # after the commit: never names a row-less instance
                seriesdoc.add(meta, series_id, entries)

    # -- outcomes ---------------------------------------------------------------------------------
    def _ok(self, parsed: ParsedInstance, note: str | None) -> None:
        url = instance_url(
            base=self.base_url, study_uid=parsed.study_instance_uid, series_uid=parsed.series_instance_uid,
            instance_uid=parsed.sop_instance_uid,
        )
        self.studies.add(parsed.study_instance_uid)
        self.stored.append(StoredInstance(parsed.sop_class_uid, parsed.sop_instance_uid, url, note=note))

    def _fail(self, sop_class: str | None, sop_instance: str | None, code: int, reason: str) -> None:
        self.failed.append(FailedInstance(sop_class, sop_instance, code, reason))

    def _conflict(self, parsed: ParsedInstance) -> None:
        with session_scope(self.engine) as session:
            self._audit_conflict(session, parsed)
        self._conflict_response(parsed)

    def _conflict_response(self, parsed: ParsedInstance) -> None:
        self._fail(
            parsed.sop_class_uid, parsed.sop_instance_uid, FailureReason.DUPLICATE_SOP_INSTANCE,
            "a different instance with this SOP Instance UID is already stored; the original is kept",
        )

    def _audit_conflict(self, session: Session, parsed: ParsedInstance) -> None:
        audit.record(
            session, principal=self.principal, action=audit.CREATE, event_type="dicom.instance_conflict",
            object_type="sop_instance_uid", object_id=parsed.sop_instance_uid, outcome=audit.MINOR_FAILURE,
            detail={"reason": "same SOP Instance UID, different bytes", "study": parsed.study_instance_uid},
        )

    def response(self) -> StoreResponse:
        retrieve = None
        if self.stored:
            uid = self.path_study_uid or (next(iter(self.studies)) if len(self.studies) == 1 else None)
            retrieve = study_url(base=self.base_url, study_uid=uid) if uid else None
        return StoreResponse(retrieve_url=retrieve, stored=tuple(self.stored), failed=tuple(self.failed))

    def discard(self) -> None:
        """Forget accepted-but-unindexed instances and remove their temp files."""
        for item in self._pending:
            item.temp.unlink(missing_ok=True)
        self._pending, self._pending_bytes = [], 0



def _document_entries(outcomes: list[tuple[Accepted, str | None]],
                      rows: dict[str, dict[str, Any]]) -> dict[str, list[seriesdoc.Entry]]:
    """Series id -> the series metadata entries of the instances stored now (studies/seriesdoc.py)."""
    out: dict[str, list[seriesdoc.Entry]] = {}
    for item, note in outcomes:
        row = rows.get(item.parsed.sop_instance_uid)
        if note is not None or row is None or item.dicom_json is None:
            continue
        out.setdefault(row["series_id"], []).append(seriesdoc.Entry(
            sop_instance_uid=row["sop_instance_uid"], sha256=row["sha256"], dicom_json=item.dicom_json,
            facts=seriesdoc.facts_of_values(row)))
    return out
