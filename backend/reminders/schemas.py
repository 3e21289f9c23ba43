"""Follow-up reminders as the API answers them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class ReminderOut(BaseModel):
    study_id: str
    title: str  # the study's exam name
    study_date: date
    due: date
    phrase: str = Field(description="the report's own words, e.g. 建议12个月后复查 → 12个月后复查")
    stated: bool = Field(description="the interval was in the report; false: '定期' with our default of 6 months")
    status: str = Field(description="open (not yet due) / due / done (a comparable study came after it)")
    done_by: str | None
    done_title: str | None
    detail_url: str


class RemindersOut(BaseModel):
    items: list[ReminderOut]
