"""QIDO-RS and WADO-RS on behalf of a principal: which studies it may see (the access policy's
``dicomweb_study_filter``), the audit event of every read, and the share session's masking. No
FastAPI here: the router turns these answers into DICOM JSON and multipart responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from backend.access import audit
from backend.access.principals import InstitutionPrincipal, Principal, SharePrincipal
from backend.access.service import dicomweb_study_filter
from backend.dicomweb import qido, wado
from backend.ingest.service import StowBatch
from backend.sharing import masking
from backend.storage.base import ObjectStore

LEVELS = {"study": ["study"], "series": ["series", "study"], "instance": ["instance", "series", "study"]}


@dataclass(frozen=True, slots=True)
class Found:
    body: list[dict[str, Any]]
    ignored: list[str]


def search(*, session: Session, principal: Principal, level: str, params: list[tuple[str, str]],
           base: str) -> Found:
    """A QIDO-RS search at ``level``. For a doctor's share session the results are masked as on the share
    page, and masked attributes cannot be matched (a guessed name or ID cannot be confirmed)."""
    share = isinstance(principal, SharePrincipal)
    query = qido.parse_query(params, levels=LEVELS[level], unmatchable=masking.UNMATCHABLE if share else frozenset())
    access = dicomweb_study_filter(session=session, principal=principal)
    body: list[dict[str, Any]]
    if level == "study":
        studies = qido.search_studies(session=session, access=access, query=query)
        body = [qido.study_json(s, base=base, include_all=query.include_all) for s in studies]
    elif level == "series":
        rows = qido.search_series(session=session, access=access, query=query)
        body = [qido.series_json(s, st, base=base, include_all=query.include_all) for s, st in rows]
    else:
        found = qido.search_instances(session=session, access=access, query=query)
        body = [qido.instance_json(i, s, st, base=base, include_all=query.include_all) for i, s, st in found]
    audit.record(session, principal=principal, action=audit.READ, event_type="dicom.qido", object_type=level,
                 detail={"results": len(body)})
    if share:
        body = [masking.mask_dataset(item) for item in body]
    return Found(body=body, ignored=sorted(set(query.ignored)))


def select(*, session: Session, principal: Principal, event: str, study: str, series: str | None,
           instance: str | None) -> wado.Selected:
    """The instances a WADO-RS request names, as the principal may read them; the read is audited."""
    access = dicomweb_study_filter(session=session, principal=principal)
    selected = wado.select_instances(session=session, access=access, study_uid=study, series_uid=series,
                                     instance_uid=instance)
    audit.record(session, principal=principal, action=audit.READ, event_type=event,
                 person_id=selected.study.person_id, object_type="imaging_study", object_id=selected.study.id,
                 detail={"instances": len(selected.instances)})
    return selected


def metadata(*, blobs: ObjectStore, principal: Principal, selected: wado.Selected) -> list[dict[str, Any]]:
    body = wado.metadata(blobs=blobs, instances=[i for i, _ in selected.instances])
    if isinstance(principal, SharePrincipal):  # the patient's identity as the share page shows it
        body = [masking.mask_dataset(item) for item in body]
    return body


def audit_stow(session: Session, *, principal: InstitutionPrincipal, batch: StowBatch) -> None:
    audit.record(
        session, principal=principal, action=audit.CREATE, event_type="dicom.stow", object_type="stow_request",
        outcome=audit.SUCCESS if not batch.failed else audit.MINOR_FAILURE,
        detail={"stored": len(batch.stored), "failed": len(batch.failed), "studies": len(batch.studies)},
    )
