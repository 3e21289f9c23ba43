"""The imaging study as a person reads it: its detail (series, previews, report) and its priors.

Both take the access policy's decision and the study's timeline entry (``records.require_entry``): a
study id of another person — or one the access does not cover — is the same 404 as an id that does not
exist. Every read is audited.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from backend.access.service import PersonAccess
from backend.errors import NotFound
from backend.previews import urls as preview_urls
from backend.records import service as records
from backend.records.models import TimelineEntry
from backend.records.schemas import InstitutionRef
from backend.reports import service as reports
from backend.reports.schemas import ReportOut
from backend.studies import record_kind
from backend.studies.models import Series, Study
from backend.studies.schemas import PriorsResponse, PriorStudy, ReportVersionInfo, SeriesOut, StudyDetail

# Radiography is sent as CR, DX or DR depending on the detector: one group for comparison.
MODALITY_GROUPS = {"CR": "XR", "DX": "XR", "DR": "XR"}


def _load(session: Session, access: PersonAccess, study_id: str) -> tuple[TimelineEntry, Study]:
    entry = records.require_entry(session=session, access=access, kind=record_kind.KIND, ref_id=study_id)
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound("No such record.", zh="未找到该记录", code="record-not-found")
    return entry, study


def _institution(session: Session, institution_id: str) -> InstitutionRef:
    names = records.institution_names(session=session, ids={institution_id})
    return InstitutionRef(id=institution_id, name=names.get(institution_id))


def study_detail(*, session: Session, access: PersonAccess, study_id: str) -> StudyDetail:
    """The study with its series (and their preview URLs) and its report — unless the share was made
    without reports (PersonAccess.reports). Audited as study.read."""
    entry, study = _load(session, access, study_id)
    # A share made without reports shows the images only (PersonAccess.reports).
    report = record_kind.latest_report(session, study.id) if access.reports else None
    history = reports.versions(session=session, report_id=report.id) if report else []
    access.audit(session, event_type="study.read", object_type=record_kind.KIND, object_id=study.id)
    return StudyDetail(
        id=study.id, study_instance_uid=study.study_instance_uid, accession_number=study.accession_number,
        # One truth (issue 19 item 2): the title is the timeline's — the RIS exam name patients know, the
        # DICOM description only when there is none; the scanner's own wording stays in `description`.
        occurred_at=record_kind.occurred_at(study), title=entry.title, description=study.description,
        modalities=record_kind.modalities(study), body_part=study.body_part,
        referring_physician=study.referring_physician, institution=_institution(session, study.institution_id),
        series=[_series_out(access.person_id, s) for s in record_kind.series_of(session, study.id)],
        report=ReportOut.model_validate(report, from_attributes=True) if report else None,
        report_history=[ReportVersionInfo(version=r.version, status=r.status, received_at=r.received_at)
                        for r in history],
    )


def _series_out(person_id: str, series: Series) -> SeriesOut:
    image_count, previews = preview_urls.series_view(person_id=person_id, series=series)
    return SeriesOut(
        id=series.id, series_instance_uid=series.series_instance_uid, number=series.series_number,
        description=series.description, modality=series.modality, body_part=series.body_part,
        instance_count=series.instance_count, image_count=image_count, previews=previews,
    )


def comparison_key(study: Study) -> tuple[str | None, frozenset[str]]:
    """(body part, modality groups): what makes two studies comparable (priors, follow-ups)."""
    return _comparison_key(study)


def _comparison_key(study: Study) -> tuple[str | None, frozenset[str]]:
    body = (study.body_part or "").strip().upper() or None
    return body, frozenset(MODALITY_GROUPS.get(m, m) for m in record_kind.image_modalities(study))


def priors(*, session: Session, access: PersonAccess, study_id: str) -> PriorsResponse:
    """Earlier studies of the same body part and modality, from any hospital, newest first.
    A study without a body part is compared by modality alone."""
    entry, study = _load(session, access, study_id)
    body, mods = _comparison_key(study)
    earlier = [e for e in records.person_entries(session=session, access=access, kind=record_kind.KIND)
               if e.sort_key < entry.sort_key]
    studies = {s.id: s for s in session.exec(
        select(Study).where(col(Study.id).in_([e.ref_id for e in earlier]))).all()} if earlier else {}
    items = []
    for e in earlier:
        prior = studies.get(e.ref_id)
        if prior is None:
            continue
        prior_body, prior_mods = _comparison_key(prior)
        if not (mods & prior_mods) or (body is not None and prior_body != body):
            continue
        items.append(PriorStudy(
            id=prior.id, occurred_at=e.occurred_at, title=e.title, modalities=record_kind.modalities(prior),
            body_part=prior.body_part, institution=_institution(session, prior.institution_id),
            has_report=bool(e.data.get("has_report")), detail_url=record_kind.detail_path(access.person_id, prior.id),
        ))
    access.audit(session, event_type="study.priors.read", object_type=record_kind.KIND, object_id=study.id,
                 detail={"priors": len(items)})
    return PriorsResponse(study_id=study.id, items=items)
