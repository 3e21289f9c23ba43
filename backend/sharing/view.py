"""What a doctor's share session sees: the patient header, the shared studies, and the downloads.

Reads go through the access policy like every patient route (``authorize_person`` with the
SharePrincipal), so the studies listed are exactly those the policy lets this session read.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from backend.access import audit, originals
from backend.access.principals import Principal, SharePrincipal
from backend.access.service import PersonAccess, authorize_person, live_share
from backend.clock import CST, aware, utcnow
from backend.config import Settings
from backend.crypto import decrypt
from backend.errors import NotFound, Unauthorized
from backend.people.masking import mask_name, person_resident_id
from backend.people.models import Person
from backend.records import service as records
from backend.records.schemas import InstitutionRef
from backend.sharing import archive, rules
from backend.sharing.dicomdir import Entry
from backend.sharing.models import Share, ShareSession
from backend.sharing.schemas import SharedPatient, SharedStudy, ShareSessionOut
from backend.sharing.service import NOTE_AAD
from backend.studies import record_kind
from backend.studies.models import Instance, Series, Study

SHARE_API = "/api/v1/share"


def require_share(session: Session, principal: Principal) -> tuple[Share, PersonAccess]:
    if not isinstance(principal, SharePrincipal):
        raise Unauthorized("Open the share link first.", code="share-session-required",
                           zh="请先打开分享链接。")
    share = live_share(session, share_id=principal.share_id, session_id=principal.session_id)
    if share is None:
        raise Unauthorized("Open the share link first.", code="share-session-required",
                           zh="请先打开分享链接。")
    return share, authorize_person(session=session, principal=principal, person_id=share.person_id)


def age_on(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def session_view(*, session: Session, settings: Settings, principal: Principal) -> ShareSessionOut:
    share, access = require_share(session, principal)
    person = session.get(Person, share.person_id)
    if person is None:
        raise NotFound("No such person.", zh="未找到此人的档案", code="person-not-found")
    entries = records.person_entries(session=session, access=access, kind=rules.SHARED_KIND)
    studies = {s.id: s for s in session.exec(select(Study).where(col(Study.id).in_([e.ref_id for e in entries])))}
    names = records.institution_names(session=session, ids={s.institution_id for s in studies.values()})
    base = f"/api/v1/people/{share.person_id}/studies"
    items = []
    for e in entries:
        study = studies.get(e.ref_id)
        if study is None:
            continue
        has_report = share.include_reports and bool(e.data.get("has_report"))
        items.append(SharedStudy(
            id=study.id, occurred_at=e.occurred_at, title=e.title, modalities=record_kind.modalities(study),
            body_part=study.body_part, institution=InstitutionRef(id=study.institution_id,
                                                                  name=names.get(study.institution_id)),
            has_report=has_report, detail_url=f"{base}/{study.id}",
            report_pdf_url=f"{base}/{study.id}/report.pdf" if has_report else None,
            download_url=f"{SHARE_API}/studies/{study.id}/download.zip" if share.allow_download else None,
        ))
    row = session.get(ShareSession, access.principal.session_id) if isinstance(access.principal, SharePrincipal) \
        else None
    ends = min(aware(share.expires_at), aware(row.expires_at)) if row else aware(share.expires_at)
    note = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=share.note_cipher,
                   associated_data=NOTE_AAD) if share.note_cipher else None
    # The same masks as the doctor's DICOM metadata (sharing/masking.py); the number is never decrypted.
    masked_id = person_resident_id(person) if person.resident_id_last4 else None
    access.audit(session, event_type="share.session.read", object_type="share", object_id=share.id,
                 detail={"studies": len(items)})
    return ShareSessionOut(
        share_id=share.id, person_id=share.person_id,
        patient=SharedPatient(name=person.name, name_masked=mask_name(person.name), sex=person.sex,
                              age=age_on(person.birth_date, utcnow().astimezone(CST).date()),
                              resident_id_masked=masked_id),
        studies=items, note=note, include_reports=share.include_reports, allow_download=share.allow_download,
        download_all_url=f"{SHARE_API}/download.zip" if share.allow_download and items else None, expires_at=ends,
    )


def download_plan(*, session: Session, principal: Principal, study_id: str | None) -> list[archive.Member]:
    """The instances of one shared study (or all of them) — 403 when the share forbids downloads."""
    _, access = require_share(session, principal)
    originals.require_originals(session=session, principal=principal)  # allow_download, the one rule
    if study_id is not None:
        records.require_entry(session=session, access=access, kind=rules.SHARED_KIND, ref_id=study_id)
        ids = [study_id]
    else:
        ids = [e.ref_id for e in records.person_entries(session=session, access=access, kind=rules.SHARED_KIND)]
    rows = session.exec(
        select(Instance, Series, Study)
        .join(Series, col(Series.id) == col(Instance.series_id)).join(Study, col(Study.id) == col(Instance.study_id))
        .where(col(Instance.study_id).in_(ids))
        .order_by(col(Study.local_patient_id), col(Study.study_instance_uid), col(Series.series_number),
                  col(Series.series_instance_uid), col(Instance.instance_number), col(Instance.sop_instance_uid))
    ).all()
    access.audit(session, event_type="share.download", action=audit.READ, object_type=rules.SHARED_KIND,
                 object_id=study_id, detail={"studies": len(ids), "instances": len(rows)})
    return [archive.Member(blob_key=i.blob_key, image=i.kind == "image", entry=_entry(i, r, st)) for i, r, st in rows]


def _entry(instance: Instance, series: Series, study: Study) -> Entry:
    return Entry(
        file_id=(), patient_id=study.local_patient_id or "", patient_name=study.patient_name or "",
        study_uid=study.study_instance_uid, study_date=study.study_date, study_time=study.study_datetime,
        study_id=study.study_id or "", accession=study.accession_number or "",
        study_description=study.description or "",
        series_uid=series.series_instance_uid, modality=series.modality or "OT", series_number=series.series_number,
        sop_class_uid=instance.sop_class_uid, sop_instance_uid=instance.sop_instance_uid,
        transfer_syntax_uid=instance.transfer_syntax_uid, instance_number=instance.instance_number,
    )
