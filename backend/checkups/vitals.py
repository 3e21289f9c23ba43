"""Vitals over the years from checkups (issue 19 item 5): blood pressure, weight and BMI, as lab values
have trends. Read from each checkup's 一般检查 items by name (hospitals write 血压 "146/92" mmHg,
体重 kg, 身高 cm, 体重指数/BMI kg/m²); BMI is computed from height and weight when not given
(WS/T 428-2013 成人体重判定: BMI = kg / m², 18.5-23.9 normal for Chinese adults). Audited."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from backend.access.service import PersonAccess
from backend.checkups.models import Checkup
from backend.checkups.record_kind import KIND
from backend.records import service as records

_BP = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*$")
_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
# key → (中文, English, unit, reference low, reference high): WS/T 428-2013 for BMI; 中国高血压防治指南
# (2018) for office blood pressure (<140/90 mmHg).
VITALS: dict[str, tuple[str, str, str, float | None, float | None]] = {
    "systolic": ("收缩压", "Systolic blood pressure", "mmHg", None, 140.0),
    "diastolic": ("舒张压", "Diastolic blood pressure", "mmHg", None, 90.0),
    "weight": ("体重", "Weight", "kg", None, None),
    "bmi": ("体重指数", "BMI", "kg/m²", 18.5, 23.9),
}


@dataclass
class Series:
    key: str
    points: list[tuple[datetime, float, str]] = field(default_factory=list)  # (when, value, checkup id)


def _number(text: object) -> float | None:
    m = _NUM.match(str(text or ""))
    return float(m.group(1)) if m else None


def read_vitals(checkup: Checkup) -> dict[str, float]:
    """The vitals one checkup recorded, by key."""
    found: dict[str, float] = {}
    height = None
    for section in checkup.sections or []:
        for item in section.get("items", []):
            name, result = str(item.get("name", "")), item.get("result")
            if "血压" in name and (m := _BP.match(str(result or ""))):
                found["systolic"], found["diastolic"] = float(m.group(1)), float(m.group(2))
            elif name in ("体重",) and (v := _number(result)) is not None:
                found["weight"] = v
            elif name in ("身高",) and (v := _number(result)) is not None:
                height = v
            elif (name in ("体重指数", "BMI") or "BMI" in name.upper()) and (v := _number(result)) is not None:
                found["bmi"] = v
    if "bmi" not in found and height and found.get("weight"):
        found["bmi"] = round(found["weight"] / (height / 100) ** 2, 1)
    return found


def vitals(*, session: Session, access: PersonAccess) -> list[Series]:
    entries = records.person_entries(session=session, access=access, kind=KIND)
    rows = {c.id: c for c in session.exec(select(Checkup).where(col(Checkup.id).in_([e.ref_id for e in entries])))}
    series = {key: Series(key=key) for key in VITALS}
    for entry in reversed(entries):  # oldest first
        checkup = rows.get(entry.ref_id)
        if checkup is None:
            continue
        for key, value in read_vitals(checkup).items():
            series[key].points.append((entry.occurred_at, value, checkup.id))
    access.audit(session, event_type="checkup.vitals.read", object_type="person", object_id=access.person_id,
                 detail={"checkups": len(entries)})
    return [s for s in series.values() if s.points]
