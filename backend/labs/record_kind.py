"""The ``lab_result`` record kind: how a lab panel shows on the timeline and in FHIR."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.labs import values
from backend.labs.models import LabItem, LabReport
from backend.records import registry
from backend.records import service as records

KIND = "lab_result"
# HL7 v3 ObservationInterpretation (http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation):
# a critical value (危急值) is "AA" (critical abnormal).
INTERPRETATION = {"N": "N", "H": "H", "L": "L", "HH": "HH", "LL": "LL", "A": "A", "critical": "AA"}
V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def items_of(session: Session, lab_id: str) -> list[LabItem]:
    return list(session.exec(select(LabItem).where(LabItem.lab_report_id == lab_id).order_by(col(LabItem.seq))).all())


def shown_value(item: LabItem) -> str:
    """The value as the trends show it (issue 19 item 2: one truth): in the analyte's canonical unit when the
    hospital's unit converts (a mg/dL glucose reads in mmol/L, as on its trend), else as sent — with its unit."""
    if item.norm_value is not None and item.norm_unit:
        return f"{round(item.norm_value, 2):g} {item.norm_unit}"  # 6.8273 (from mg/dL) reads 6.83
    return f"{item.value_text} {item.unit}" if item.unit else item.value_text


def abnormal_summary(items: list[LabItem], limit: int = 3, *, en: bool = False) -> str:
    """The card's line: how many results are out of range and the first few with value, unit and arrow."""
    abnormal = [i for i in items if i.flag in values.ABNORMAL_FLAGS]
    if not abnormal:
        return "All results within the reference ranges" if en else "各项结果均在参考范围内"
    arrows = values.FLAG_ARROW_EN if en else values.FLAG_ARROW
    shown = ("; " if en else "、").join(f"{i.name} {shown_value(i)}{arrows.get(i.flag or '', '')}"
                                        for i in abnormal[:limit])
    if en:
        more = f" and {len(abnormal) - limit} more" if len(abnormal) > limit else ""
        return f"{len(abnormal)} out of range: {shown}{more}"
    more = f" 等{len(abnormal)}项" if len(abnormal) > limit else ""
    return f"{len(abnormal)}项异常：{shown}{more}"


def occurred_at(lab: LabReport) -> datetime:
    return lab.collected_at or lab.reported_at


def summarize(*, session: Session, ref_id: str) -> registry.EntrySummary | None:
    lab = session.get(LabReport, ref_id)
    if lab is None:
        return None
    items = items_of(session, lab.id)
    return registry.EntrySummary(
        occurred_at=occurred_at(lab), title=lab.panel_name, summary=abnormal_summary(items), status=lab.status,
        institution_id=lab.institution_id, local_patient_id=lab.local_patient_id,
        tags=[lab.specimen] if lab.specimen and " " not in lab.specimen else [],
        data={"abnormal_count": lab.abnormal_count, "item_count": len(items),
              "summary_en": abnormal_summary(items, en=True),
              "critical": any(i.flag == "critical" for i in items), "specimen": lab.specimen,
              "mutual_recognition_mark": lab.mutual_recognition_mark, "checkup_id": lab.checkup_id},
    )


def detail_path(person_id: str, lab_id: str) -> str:
    return f"/api/v1/people/{person_id}/labs/{lab_id}"


def _instant(moment: datetime) -> str:
    return records.as_utc(moment).isoformat()


def _quantity(value: float | None, unit: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if unit:
        out["unit"] = unit
    return out


def observation(item: LabItem, lab: LabReport, patient_ref: str) -> dict[str, Any]:
    coding = []
    if item.loinc:
        coding.append({"system": "http://loinc.org", "code": item.loinc})
    if item.code:
        coding.append({"system": f"urn:yunying:institution:{lab.institution_id}:lab-code", "code": item.code,
                       "display": item.name})
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": item.id,
        "status": lab.status if lab.status in {"preliminary", "final", "amended"} else "unknown",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": coding, "text": item.name} if coding else {"text": item.name},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": _instant(occurred_at(lab)),
        "issued": _instant(lab.reported_at),
    }
    if item.value_num is not None:
        resource["valueQuantity"] = _quantity(item.value_num, item.unit)
    else:
        resource["valueString"] = item.value_text
    if item.flag in INTERPRETATION:
        resource["interpretation"] = [{"coding": [{"system": V3_INTERP, "code": INTERPRETATION[item.flag or ""]}]}]
    if item.ref_low is not None or item.ref_high is not None or item.ref_text:
        ref: dict[str, Any] = {}
        if item.ref_low is not None:
            ref["low"] = _quantity(item.ref_low, item.unit)
        if item.ref_high is not None:
            ref["high"] = _quantity(item.ref_high, item.unit)
        if item.ref_text:
            ref["text"] = item.ref_text
        resource["referenceRange"] = [ref]
    if lab.specimen:
        resource["note"] = [{"text": f"标本：{lab.specimen}"}]
    return resource


def fhir_resources(*, session: Session, ref_ids: Sequence[str], patient_ref: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for lab_id in ref_ids:
        lab = session.get(LabReport, lab_id)
        if lab is None:
            continue
        observations = [observation(i, lab, patient_ref) for i in items_of(session, lab.id)]
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "id": lab.id,
            "identifier": [{"system": f"urn:yunying:institution:{lab.institution_id}:lab-report",
                            "value": lab.report_id}],
            "status": lab.status if lab.status in {"preliminary", "final", "amended"} else "unknown",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
            "code": {"text": lab.panel_name},
            "subject": {"reference": patient_ref},
            "effectiveDateTime": _instant(occurred_at(lab)),
            "issued": _instant(lab.reported_at),
            "result": [{"reference": f"Observation/{o['id']}"} for o in observations],
        }
        if lab.reporting_physician:
            report["performer"] = [{"display": lab.reporting_physician}]
        out.append(report)
        out.extend(observations)
    return out


RECORD_KIND = registry.RecordKind(
    name=KIND, label_zh="化验", label_en="Lab result", summarize=summarize, detail_path=detail_path,
    fhir=fhir_resources,
)


