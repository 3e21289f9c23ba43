"""``GET /api/v1/people/{person_id}/export/fhir`` — the person's data, portable."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from backend.api.deps import ReadablePerson, SessionDep, SettingsDep
from backend.fhir import service

router = APIRouter(tags=["export"])


@router.get("/people/{person_id}/export/fhir", response_class=Response,
            responses={200: {"content": {"application/fhir+json": {}}}})
def export_fhir(access: ReadablePerson, session: SessionDep, settings: SettingsDep) -> Response:
    bundle = service.export_bundle(session=session, access=access, base_url=settings.public_url)
    access.audit(session, event_type="export.fhir", object_type="person", object_id=access.person_id,
                 detail={"resources": len(bundle["entry"])})
    return Response(
        content=json.dumps(bundle, ensure_ascii=False),
        media_type="application/fhir+json",
        headers={"Cache-Control": "no-store",
                 "Content-Disposition": f'attachment; filename="yunying-{access.person_id}.fhir.json"'},
    )
