"""The 12-hour rule (issue 3): every public hospital uploads each study within 12 hours of the exam.

Delay = ``first_received_at`` (first instance arrived here) − ``acquired_at`` (Acquisition
DateTime, else Series, Study or Content date/time of the earliest instance; modality local time,
Asia/Shanghai unless the header gives TimezoneOffsetFromUTC). Studies without any acquisition time
cannot be judged and are counted separately.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from backend.institutions.models import Institution
from backend.studies.models import Study


def delay_report(*, session: Session, limit: timedelta = timedelta(hours=12)) -> dict[str, Any]:
    rows = session.execute(
        sa_select(col(Study.institution_id), col(Institution.name), col(Study.study_instance_uid),
               col(Study.acquired_at), col(Study.first_received_at))
        .join(Institution, col(Institution.id) == col(Study.institution_id))
        .order_by(col(Institution.name), col(Study.first_received_at))
    ).all()
    per: dict[str, dict[str, Any]] = {}
    late: list[dict[str, Any]] = []
    for institution_id, name, uid, acquired, received in rows:
        entry = per.setdefault(institution_id, {"institution": name, "institution_id": institution_id,
                                                "delays": [], "unknown": 0})
        if acquired is None:
            entry["unknown"] += 1
            continue
        hours = (received - acquired).total_seconds() / 3600
        entry["delays"].append(hours)
        if received - acquired > limit:
            late.append({"institution": name, "study_instance_uid": uid, "acquired_at": acquired.isoformat(),
                         "first_received_at": received.isoformat(), "delay_hours": round(hours, 2)})
    institutions = []
    for entry in per.values():
        values = entry.pop("delays")
        institutions.append({
            **entry,
            "studies": len(values),
            "median_hours": round(statistics.median(values), 2) if values else 0.0,
            "worst_hours": round(max(values), 2) if values else 0.0,
            "late": sum(1 for v in values if v > limit.total_seconds() / 3600),
        })
    late.sort(key=lambda item: -item["delay_hours"])
    return {"limit_hours": limit.total_seconds() / 3600, "institutions": institutions, "late_studies": late}
