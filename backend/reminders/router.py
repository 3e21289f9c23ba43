"""The person's follow-up reminders (issue 19 item 5). Thin: service.py derives them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.api.deps import ReadablePerson, SessionDep
from backend.clock import cst_date, utcnow
from backend.reminders import service
from backend.reminders.schemas import ReminderOut, RemindersOut
from backend.studies import record_kind

router = APIRouter(tags=["reminders"])


@router.get("/people/{person_id}/reminders", response_model=RemindersOut,
            summary="Follow-ups the reports advise, with their due dates")
def reminders(access: ReadablePerson, session: SessionDep, response: Response) -> RemindersOut:
    response.headers["Cache-Control"] = "no-store"
    today = cst_date(utcnow())
    return RemindersOut(items=[ReminderOut(
        study_id=r.study_id, title=r.title, study_date=r.study_date, due=r.due, phrase=r.advice.phrase,
        stated=r.advice.stated, status="done" if r.done_by else "due" if r.due <= today else "open",
        done_by=r.done_by, done_title=r.done_title, detail_url=record_kind.detail_path(access.person_id, r.study_id),
    ) for r in service.for_person(session=session, access=access)])
