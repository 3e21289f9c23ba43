"""The ``checkup`` record kind: a checkup package on the timeline and in FHIR."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from backend.checkups.models import Checkup
from backend.records import registry
from backend.records import service as records

KIND = "checkup"


def summarize(*, session: Session, ref_id: str) -> registry.EntrySummary | None:
    checkup = session.get(Checkup, ref_id)
    if checkup is None:
        return None
    summary = "；".join(checkup.conclusions[:2]) or "未见明显异常"
    if len(checkup.conclusions) > 2:
        summary += f" 等{len(checkup.conclusions)}项结论"
    # The conclusions are the physician's words (Chinese, quoted as written); what the platform adds is not.
    n = checkup.abnormal_count
    summary_en = (f"{n} finding(s) to note: " if n else "No notable findings: ") + "; ".join(checkup.conclusions[:2])
    if not checkup.conclusions:
        summary_en = "No notable findings"
    elif len(checkup.conclusions) > 2:
        summary_en += f" and {len(checkup.conclusions) - 2} more"
    return registry.EntrySummary(
        occurred_at=checkup.exam_date, title=checkup.package_name, summary=summary, status=checkup.status,
        institution_id=checkup.institution_id, local_patient_id=checkup.local_patient_id,
        data={"conclusion_count": len(checkup.conclusions), "abnormal_count": checkup.abnormal_count,
              "section_count": len(checkup.sections), "summary_en": summary_en},
    )


def detail_path(person_id: str, checkup_id: str) -> str:
    return f"/api/v1/people/{person_id}/checkups/{checkup_id}"


def fhir_resources(*, session: Session, ref_ids: Sequence[str], patient_ref: str) -> list[dict[str, Any]]:
    """A checkup as a DiagnosticReport whose conclusion is the chief physician's summary; its lab
    panels are exported by the lab_result kind (they are lab results of their own)."""
    out: list[dict[str, Any]] = []
    for checkup_id in ref_ids:
        checkup = session.get(Checkup, checkup_id)
        if checkup is None:
            continue
        resource: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "id": checkup.id,
            "identifier": [{"system": f"urn:yunying:institution:{checkup.institution_id}:checkup",
                            "value": checkup.checkup_id}],
            "status": checkup.status if checkup.status in {"preliminary", "final", "amended"} else "unknown",
            "code": {"text": f"体检：{checkup.package_name}"},
            "subject": {"reference": patient_ref},
            "effectiveDateTime": records.as_utc(checkup.exam_date).isoformat(),
        }
        if checkup.reported_at:
            resource["issued"] = records.as_utc(checkup.reported_at).isoformat()
        if checkup.conclusions or checkup.recommendations:
            resource["conclusion"] = "\n".join(
                [*checkup.conclusions, *(f"建议：{r}" for r in checkup.recommendations)])
        if checkup.chief_physician:
            resource["resultsInterpreter"] = [{"display": checkup.chief_physician}]
        out.append(resource)
    return out


RECORD_KIND = registry.RecordKind(
    name=KIND, label_zh="体检", label_en="Checkup", summarize=summarize, detail_path=detail_path,
    fhir=fhir_resources,
)
