"""PDF delivery: find or render a person's document, record its verification code, verify codes.

Flow of one request (``imaging_report_pdf`` / ``lab_report_pdf`` / ``health_summary_pdf``):

1. The record is located through the access policy (``records.require_entry``) and its printable
   content is built from the database (``sources``) — cheap reads, no images decoded.
2. The cache key names every input of the bytes: the document's content hash, the report version,
   the study's image set (instance count + last arrival: the key frames are chosen from it) and the
   key images' render parameters (renderer version, size, quality), the templates
   fingerprint (templates, CSS, labels, font, WeasyPrint), the language and the public URL in the
   QR code. An indexed lookup of ``pdf_document.cache_key`` + reading the file is a cache hit.
3. On a miss the key images are rendered, a fresh code is made (``make_code`` over the content
   hash, keyed by a key derived from the ``secret_key``), the PDF is rendered, written
   (temp → fsync → rename, named by its SHA-256) and its row inserted. An amended report has a new
   content hash and version, so it gets a new PDF and a new code; the old code still verifies, as
   the earlier version, and the /v page says that a newer one exists.

Rendering takes ~0.3–0.5 s. On SQLite the request's transaction holds the database's write lock
from its first statement (``BEGIN IMMEDIATE``, db.py), so the transaction is committed — it has only
read so far — before rendering, and a new one records the document and the audit event after.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access.service import PersonAccess
from backend.checkups import record_kind as checkup_kind
from backend.checkups.models import Checkup
from backend.clock import utcnow
from backend.config import Settings
from backend.errors import NotFound
from backend.labs import record_kind as lab_kind
from backend.labs.models import LabReport as LabReportRow
from backend.pdf import key_images, naming, render, sources
from backend.pdf.documents import DocumentMeta
from backend.pdf.hashing import content_hash, document_hash, templates_fingerprint
from backend.pdf.models import PdfDocument
from backend.pdf.verification import ID_CHARS, InvalidCode, make_code, parse_code, verify_code
from backend.people.masking import mask_name
from backend.people.models import Person
from backend.records import service as records
from backend.storage.base import ObjectStore
from backend.storage.errors import ObjectMissing
from backend.studies import record_kind as imaging_kind
from backend.studies.models import Study

IMAGING = "imaging_report"
LAB = "lab_report"
SUMMARY = "health_summary"
CHECKUP = "checkup_report"
_KEY_DOMAIN = b"yunying/pdf-verification-key/v1"


def verification_key(settings: Settings) -> bytes:
    """A key only for PDF codes, derived from the service secret (HMAC as a KDF, RFC 5869 §2.2 style)."""
    return hmac.new(settings.secret_bytes("secret_key"), _KEY_DOMAIN, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class PdfFile:
    data: bytes
    row: PdfDocument
    cached: bool

    @property
    def etag(self) -> str:
        return '"' + self.row.document_hash.removeprefix("sha256:") + '"'


@dataclass(frozen=True, slots=True)
class Facts:
    """The key facts the /v page shows (the platform's copy)."""

    institution_name: str
    title: str
    document_date: date | None
    masked_patient_name: str
    report_status: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    kind: str
    person_id: str
    object_id: str
    version: int
    lang: str
    cache_key: str
    filename: str
    facts: Facts
    build: Callable[[], Any]  # the full document (renders key images: only on a miss)
    render: Callable[[Any, DocumentMeta], bytes]


class PdfStore:
    """Rendered PDFs in the object store's ``pdf`` area, named by the SHA-256 of their bytes
    (``ab/<hex>.pdf``): content-addressed, so a write that ran twice stores the same object."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @staticmethod
    def key(doc_hash: str) -> str:
        hexdigest = doc_hash.removeprefix("sha256:")
        if len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise ValueError("not a sha256 document hash")
        return f"{hexdigest[:2]}/{hexdigest}.pdf"

    def read(self, doc_hash: str) -> bytes | None:
        """The document's bytes if present and intact (a torn or edited object is treated as missing)."""
        try:
            data = self.store.get_bytes(key=self.key(doc_hash))
        except ObjectMissing:
            return None
        return data if data is not None and document_hash(data) == doc_hash else None

    def write(self, data: bytes) -> str:
        """Durable before the row that names it commits; verified against its own hash on the way in."""
        doc_hash = document_hash(data)
        self.store.put_bytes(key=self.key(doc_hash), data=data, sha256=doc_hash.removeprefix("sha256:"))
        return doc_hash


def store_for(settings: Settings) -> PdfStore:
    return PdfStore(settings.storage.pdf)


def _cache_key(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def _meta(settings: Settings, code: str, generated_at: datetime) -> DocumentMeta:
    return DocumentMeta(verification_code=code, verification_url=f"{settings.public_url}/v/{code}",
                        generated_at=generated_at)


def deliver(*, session: Session, settings: Settings, job: Job) -> PdfFile:
    """The cached PDF of ``job`` or a freshly rendered and recorded one."""
    store = store_for(settings)
    row = session.exec(select(PdfDocument).where(PdfDocument.cache_key == job.cache_key)).first()
    if row is not None:
        data = store.read(row.document_hash)
        if data is not None:
            return PdfFile(data=data, row=row, cached=True)
        # The file is gone (cache cleared, disk replaced): the same inputs, code and time give the
        # same bytes again (rendering is deterministic), so the paper already out there still matches.
        document = job.build()
        pdf = job.render(document, _meta(settings, row.id + row.signature, _as_aware(row.created_at)))
        row.document_hash, row.size = store.write(pdf), len(pdf)
        session.add(row)
        return PdfFile(data=pdf, row=row, cached=False)

    document = job.build()
    chash = content_hash(document)
    code = make_code(key=verification_key(settings), content_hash=chash)
    generated_at = utcnow()
    session.commit()  # release SQLite's write lock while rendering (module docstring)
    pdf = job.render(document, _meta(settings, code, generated_at))
    doc_hash = store.write(pdf)
    row = PdfDocument(
        id=code[:ID_CHARS], signature=code[ID_CHARS:], cache_key=job.cache_key, kind=job.kind,
        person_id=job.person_id, object_id=job.object_id, version=job.version, lang=job.lang, content_hash=chash,
        document_hash=doc_hash, size=len(pdf), filename=job.filename, created_at=generated_at,
        institution_name=job.facts.institution_name[:256], title=job.facts.title[:256],
        document_date=job.facts.document_date, masked_patient_name=job.facts.masked_patient_name[:64],
        report_status=job.facts.report_status,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another request rendered the same inputs at the same moment: serve its document.
        winner = session.exec(select(PdfDocument).where(PdfDocument.cache_key == job.cache_key)).first()
        data = store.read(winner.document_hash) if winner else None
        if winner is None or data is None:
            raise
        return PdfFile(data=data, row=winner, cached=True)
    return PdfFile(data=pdf, row=row, cached=False)


# -- the three documents ------------------------------------------------------------------------------
def _person(session: Session, access: PersonAccess) -> Person:
    person = session.get(Person, access.person_id)
    if person is None:
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    return person


def imaging_report_job(*, session: Session, settings: Settings, blobs: ObjectStore, access: PersonAccess,
                       study_id: str, lang: str) -> Job:
    records.require_entry(session=session, access=access, kind=imaging_kind.KIND, ref_id=study_id)
    study = session.get(Study, study_id)
    report = imaging_kind.latest_report(session, study_id) if study and access.reports else None
    if study is None or report is None:
        raise NotFound("This study has no report yet.", zh="该检查暂无报告", code="report-not-found")
    person = _person(session, access)
    src = sources.imaging_source(session=session, person=person, study=study, report=report, lang=lang)
    base = src.report
    # The study's image set, as ingest last left it (every stored batch bumps both): the key frames are
    # a function of it, so they are chosen — and decoded — only when the PDF is not cached.
    images_state = f"{study.instance_count}@{_as_aware(study.last_received_at).isoformat()}"

    def build() -> Any:
        frames = key_images.choose_frames(session=session, study_id=study_id)
        images = key_images.render_frames(frames=frames, blobs=blobs, derived_root=settings.storage.derived,
                                          max_pixels=settings.max_pixels, lang=lang)
        return replace(base, key_images=tuple(images))

    return Job(
        kind=IMAGING, person_id=person.id, object_id=study.id, version=src.version, lang=lang,
        cache_key=_cache_key(IMAGING, report.id, src.version, content_hash(base), images_state,
                             key_images.RENDER_PARAMS, templates_fingerprint(), lang, settings.public_url),
        filename=naming.imaging_filename(base),
        facts=Facts(institution_name=base.hospital_name, title=base.exam_item,
                    document_date=sources.china_date(base.exam_time),
                    masked_patient_name=mask_name(person.name), report_status=src.status),
        build=build, render=lambda doc, meta: render.render_imaging_report(report=doc, doc=meta, lang=lang),
    )


def lab_report_job(*, session: Session, settings: Settings, access: PersonAccess, lab_id: str, lang: str) -> Job:
    records.require_entry(session=session, access=access, kind=lab_kind.KIND, ref_id=lab_id)
    lab = session.get(LabReportRow, lab_id)
    if lab is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    person = _person(session, access)
    doc = sources.lab_source(session=session, person=person, lab=lab)
    return Job(
        kind=LAB, person_id=person.id, object_id=lab.id, version=lab.version, lang=lang,
        cache_key=_cache_key(LAB, lab.id, lab.version, content_hash(doc), templates_fingerprint(), lang,
                             settings.public_url),
        filename=naming.lab_filename(doc),
        facts=Facts(institution_name=doc.hospital_name, title=doc.title,
                    document_date=sources.china_date(lab.collected_at or lab.reported_at),
                    masked_patient_name=mask_name(person.name), report_status=lab.status),
        build=lambda: doc, render=lambda d, meta: render.render_lab_report(report=d, doc=meta, lang=lang),
    )


def checkup_report_job(*, session: Session, settings: Settings, access: PersonAccess, checkup_id: str,
                       lang: str) -> Job:
    """The checkup's PDF: the same access decision as the checkup record (``require_entry``); its lab
    panels only for an access that covers lab results (the content hash, and so the cache key, differ)."""
    records.require_entry(session=session, access=access, kind=checkup_kind.KIND, ref_id=checkup_id)
    checkup = session.get(Checkup, checkup_id)
    if checkup is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    person = _person(session, access)
    doc = sources.checkup_source(session=session, person=person, checkup=checkup,
                                 with_labs=access.allows_kind(lab_kind.KIND))
    return Job(
        kind=CHECKUP, person_id=person.id, object_id=checkup.id, version=checkup.version, lang=lang,
        cache_key=_cache_key(CHECKUP, checkup.id, checkup.version, content_hash(doc), templates_fingerprint(), lang,
                             settings.public_url),
        filename=naming.checkup_filename(doc, label="体检报告" if lang != "en" else "checkup"),
        facts=Facts(institution_name=doc.hospital_name, title=f"{doc.package_name}",
                    document_date=sources.china_date(checkup.exam_date),
                    masked_patient_name=mask_name(person.name), report_status=checkup.status),
        build=lambda: doc, render=lambda d, meta: render.render_checkup_report(report=d, doc=meta, lang=lang),
    )


def health_summary_job(*, session: Session, settings: Settings, access: PersonAccess, lang: str) -> Job:
    if not access.reports:  # the summary quotes impressions; a share without reports has none to show
        raise NotFound("No summary is available through this link.",
                       zh="此链接不提供健康档案摘要", code="summary-not-available")
    person = _person(session, access)
    doc = sources.summary_source(session=session, person=person, clauses=records.access_clauses(access))
    chash = content_hash(doc)
    label = "健康档案摘要" if lang != "en" else "health-summary"
    return Job(
        kind=SUMMARY, person_id=person.id, object_id=person.id, version=1, lang=lang,
        # The access's scope is part of the content (a lab-only proxy's summary lists only labs).
        cache_key=_cache_key(SUMMARY, person.id, chash, templates_fingerprint(), lang, settings.public_url),
        filename=naming.summary_filename(doc, label=label),
        facts=Facts(institution_name="云影", title="个人健康档案摘要", document_date=doc.period_end,
                    masked_patient_name=mask_name(person.name)),
        build=lambda: doc, render=lambda d, meta: render.render_health_summary(summary=d, doc=meta, lang=lang),
    )


# -- verification -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verification:
    document: PdfDocument
    latest_version: int

    @property
    def superseded(self) -> bool:
        return self.document.kind != SUMMARY and self.latest_version > self.document.version


def verify(*, session: Session, settings: Settings, code: str) -> Verification | None:
    """The platform's record of the document with ``code``, or None (malformed, unknown or altered).

    Both halves must match: the id finds the row, the signature must equal the stored one and be the
    HMAC of the row's content hash under the current key (a code edited by hand fails here)."""
    try:
        parsed = parse_code(code)
    except InvalidCode:
        return None
    row = session.get(PdfDocument, parsed.document_id)
    if row is None or not hmac.compare_digest(row.signature, parsed.signature):
        return None
    if not verify_code(key=verification_key(settings), code=parsed.compact, content_hash=row.content_hash):
        return None
    latest = session.exec(
        select(func.max(PdfDocument.version)).where(PdfDocument.kind == row.kind,
                                                    col(PdfDocument.object_id) == row.object_id)
    ).one()
    return Verification(document=row, latest_version=int(latest or row.version))
