"""FHIR R4 export: the person's records as one ``collection`` Bundle (https://hl7.org/fhir/R4/bundle.html).

The exporter knows no kind: it asks every registered kind for the resources of the person's records
(``RecordKind.fhir``) and adds the Patient. Each entry's ``fullUrl`` is ``<base>/fhir/<type>/<id>``
so the relative references inside (``Patient/…``, ``ImagingStudy/…``) resolve within the Bundle
(R4 §2.36.4.1, resolving references in Bundles).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from backend.access.service import PersonAccess
from backend.clock import utcnow
from backend.people.models import Person
from backend.records import registry
from backend.records import service as records

GENDER = {"M": "male", "F": "female"}


def patient_resource(person: Person) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person.id,
        "identifier": [{"system": "urn:yunying:person", "value": person.id}],
        "name": [{"text": person.name, **({"family": person.name[0], "given": [person.name[1:]]}
                                          if len(person.name) >= 2 else {})}],
    }
    if person.sex in GENDER:
        resource["gender"] = GENDER[person.sex or ""]
    if person.birth_date:
        resource["birthDate"] = person.birth_date.isoformat()
    return resource


def export_bundle(*, session: Session, access: PersonAccess, base_url: str) -> dict[str, Any]:
    person = session.get(Person, access.person_id)
    assert person is not None  # the access decision already loaded it
    patient_ref = f"Patient/{person.id}"
    resources = [patient_resource(person)]
    for kind in registry.all_kinds():
        if kind.fhir is None:
            continue
        entries = records.person_entries(session=session, access=access, kind=kind.name)
        if entries:
            resources.extend(kind.fhir(session=session, ref_ids=[e.ref_id for e in entries], patient_ref=patient_ref))
    if not access.reports:  # a share made without reports: images only
        resources = [r for r in resources if r["resourceType"] != "DiagnosticReport"]
    base = base_url.rstrip("/") + "/fhir"
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utcnow().isoformat(),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
