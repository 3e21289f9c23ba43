"""The FHIR R4 export validates against the fhir.resources models (R4B package: R4's resources)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.engine import Engine

from tests.checkups.test_checkups import checkup
from tests.labs.test_labs import panel
from tests.records.helpers import WANG_FANG, ZHANG_WEI, hospital, make_study, read_as, register, report_body

CST = timezone(timedelta(hours=8))


def test_export_is_a_valid_bundle_of_everything(client: httpx.Client, app: FastAPI, engine: Engine) -> None:
    inst, key = hospital(engine, "南京市第一医院")
    person = register(client, key, "P1", ZHANG_WEI, "张伟")
    her = register(client, key, "P2", WANG_FANG, "王芳")
    study = make_study(engine, institution_id=inst, uid="1.2.840.1", local_patient_id="P1", accession="ACC1",
                       when=datetime(2024, 3, 2, 9, 0, tzinfo=CST), series=2)
    make_study(engine, institution_id=inst, uid="1.2.840.2", local_patient_id="P2", when=datetime(2024, 1, 1))
    assert client.put("/api/v1/institution/reports/ACC1", headers=key, json=report_body()).status_code == 201
    assert client.put("/api/v1/institution/lab-reports/L1", headers=key, json=panel()).status_code == 201
    assert client.put("/api/v1/institution/checkups/C1", headers=key,
                      json=checkup(local_patient_id="P1", lab_panels=[])).status_code == 201
    read_as(app, engine, person)

    r = client.get(f"/api/v1/people/{person}/export/fhir")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate_json(r.content)  # raises on any invalid resource
    resources: list[Any] = [e.resource for e in bundle.entry or []]
    types = [x.__resource_type__ for x in resources]
    assert types.count("Patient") == 1 and types.count("ImagingStudy") == 1
    assert types.count("DiagnosticReport") == 3  # imaging report, lab panel, checkup
    assert types.count("Observation") == 4
    imaging = next(x for x in resources if x.__resource_type__ == "ImagingStudy")
    assert imaging.id == study and imaging.numberOfSeries == 2
    assert imaging.identifier[0].value == "urn:oid:1.2.840.1"
    hers = [x for x in resources if getattr(x, "id", None) == her]
    assert hers == []
    patient = resources[0]
    assert patient.gender == "male" and patient.name[0].text == "张伟"
    glucose = next(x for x in resources if x.__resource_type__ == "Observation" and x.code.text == "空腹血糖")
    assert float(glucose.valueQuantity.value) == 7.8 and glucose.interpretation[0].coding[0].code == "H"
    text_value = next(x for x in resources if x.__resource_type__ == "Observation" and x.code.text == "乙肝表面抗原")
    assert text_value.valueString == "阴性"
    entries: list[Any] = list(bundle.entry or [])
    assert all(str(e.fullUrl).endswith(f"/{e.resource.__resource_type__}/{e.resource.id}") for e in entries)
