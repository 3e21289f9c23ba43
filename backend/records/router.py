"""``GET /api/v1/people/{person_id}/timeline`` — every kind of record, newest first."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import ReadablePerson, SessionDep, SettingsDep
from backend.records import registry, service
from backend.records.schemas import Counts, InstitutionRef, KindInfo, TimelineResponse

router = APIRouter(tags=["timeline"])


@router.get("/people/{person_id}/timeline", response_model=TimelineResponse)
def read_timeline(
    access: ReadablePerson,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    kind: Annotated[str | None, Query(description="record kind(s), comma-separated", max_length=200)] = None,
    institution: Annotated[str | None, Query(max_length=32)] = None,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 20,
) -> TimelineResponse:
    filters = service.TimelineFilters(
        kinds=service.parse_kinds(kind), institution_id=institution, modality=modality,
        date_from=date_from, date_to=date_to,
    )
    page = service.timeline(
        session=session, access=access, cursor_key=settings.secret_bytes("secret_key"),
        filters=filters, cursor=cursor, limit=limit,
    )
    counts = None
    if not cursor:
        found = service.counts(session=session, access=access, filters=filters)
        counts = Counts(total=found.total, by_kind=found.by_kind, by_year=found.by_year)
    access.audit(session, event_type="timeline.read", object_type="person", object_id=access.person_id,
                 detail={"items": len(page.entries), "filters": {k: v for k, v in filters.as_scope().items() if v}})
    response.headers["Cache-Control"] = "no-store"
    items = []
    for entry in page.entries:
        label, label_en = service.kind_label(entry.kind)
        inst = entry.institution_id
        items.append(dict(  # validated into the kind's item model (schemas.TimelineItem) below
            id=entry.id, kind=entry.kind, kind_label=label, kind_label_en=label_en, ref_id=entry.ref_id,
            occurred_at=entry.occurred_at, title=entry.title,
            # Summaries quote the report (an impression's first line): hidden where reports are not shared.
            summary=entry.summary if access.reports else "", status=entry.status,
            institution=InstitutionRef(id=inst, name=page.institutions.get(inst)) if inst else None,
            detail_url=service.detail_path(entry), data=entry.data,
        ))
    return TimelineResponse.model_validate({"items": items, "next_cursor": page.next_cursor, "counts": counts})


@router.get("/record-kinds", response_model=list[KindInfo])
def list_kinds() -> list[KindInfo]:
    """The kinds of record the timeline knows (for filter chips)."""
    return [KindInfo(name=k.name, label=k.label_zh, label_en=k.label_en) for k in registry.all_kinds()]
