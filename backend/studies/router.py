"""Person-facing imaging reads: a study's detail and its priors. Thin: the work is in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from backend.api.deps import ReadablePerson, SessionDep
from backend.studies import service
from backend.studies.schemas import PriorsResponse, StudyDetail

router = APIRouter(tags=["imaging"])
StudyId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/people/{person_id}/studies/{study_id}", response_model=StudyDetail)
def read_study(access: ReadablePerson, study_id: StudyId, session: SessionDep, response: Response) -> StudyDetail:
    response.headers["Cache-Control"] = "no-store"
    return service.study_detail(session=session, access=access, study_id=study_id)


@router.get("/people/{person_id}/studies/{study_id}/priors", response_model=PriorsResponse)
def read_priors(access: ReadablePerson, study_id: StudyId, session: SessionDep, response: Response) -> PriorsResponse:
    """Earlier studies of the same body part and modality, from any hospital, newest first.
    A study without a body part is compared by modality alone."""
    response.headers["Cache-Control"] = "no-store"
    return service.priors(session=session, access=access, study_id=study_id)
