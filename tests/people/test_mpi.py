"""Patient matching: hospitals register their patients; local IDs from several hospitals link to one
person; a conflicting registration is refused and audited; studies that arrived first join later."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.access.models import AuditEvent
from backend.config import Settings
from backend.crypto import decrypt
from backend.db import session_scope
from backend.errors import Conflict, Unprocessable
from backend.institutions import service as institutions
from backend.people import service
from backend.people.models import Person, PersonLink
from backend.people.resident_id import generate_resident_id
from backend.studies.models import Study

ZHANG = "320106196203150013"
WANG = "320102198503120020"


def _hospital(engine: Engine, name: str) -> institutions.IssuedKey:
    with session_scope(engine) as s:
        return institutions.create_institution(session=s, name=name)


def _put(client: TestClient, key: str, local_id: str, **body: object) -> tuple[int, dict[str, object]]:
    response = client.put(
        f"/api/v1/institution/patients/{local_id}", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code, response.json()


def test_registration_links_two_hospitals_to_one_person_without_echoing_the_id(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    a, b = _hospital(engine, "南京鼓楼医院"), _hospital(engine, "江苏省人民医院")
    status, first = _put(client, a.api_key, "MRN-001", resident_id=ZHANG, name="张伟", phone="138 0013 8000")
    assert status == 201 and first["created"] is True
    assert first["resident_id_masked"] == "3201**********0013" and first["phone_masked"] == "138****8000"
    assert ZHANG not in str(first) and "13800138000" not in str(first)
    assert first["sex"] == "M" and first["birth_date"] == "1962-03-15"
    assert "person_id" not in first  # the answer never returns what the hospital did not send
    status, again = _put(client, a.api_key, "MRN-001", resident_id=ZHANG, name="张伟")
    assert status == 200 and again["created"] is False
    status, _other = _put(client, b.api_key, "P7788", resident_id=ZHANG.replace("0013", "0013"), name="张伟")
    assert status == 201
    with session_scope(engine) as s:
        first_id = service.resolve_person(session=s, institution_id=a.institution_id, local_patient_id="MRN-001")
        assert service.resolve_person(session=s, institution_id=b.institution_id, local_patient_id="P7788") == first_id
        person = s.get(Person, first_id)
        assert person is not None and person.resident_id_cipher and ZHANG.encode() not in person.resident_id_cipher
        assert decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=person.resident_id_cipher) == ZHANG
        assert person.resident_id_index == service.resident_id_index(settings=settings, resident_id=ZHANG)
        assert len(s.exec(select(PersonLink).where(PersonLink.person_id == person.id)).all()) == 2
        assert service.resolve_person(session=s, institution_id=b.institution_id, local_patient_id="P7788") == person.id
        assert service.resolve_person(session=s, institution_id=b.institution_id, local_patient_id="MRN-001") is None


def test_conflicting_registration_is_refused_audited_and_never_merged(client: TestClient, engine: Engine) -> None:
    a = _hospital(engine, "苏州市立医院")
    status, _first = _put(client, a.api_key, "M1", resident_id=ZHANG, name="张伟")
    assert status == 201
    with session_scope(engine, readonly=True) as s:
        first_id = service.resolve_person(session=s, institution_id=a.institution_id, local_patient_id="M1")
    status, problem = _put(client, a.api_key, "M1", resident_id=WANG, name="王芳")
    assert status == 409 and str(problem["type"]).endswith("patient-registration-conflict")
    with session_scope(engine) as s:
        links = s.exec(select(PersonLink).where(PersonLink.institution_id == a.institution_id)).all()
        assert [link.person_id for link in links] == [first_id]
        assert s.exec(select(Person)).all().__len__() == 1  # 王芳 was not created through the conflict
        events = s.exec(select(AuditEvent).where(AuditEvent.event_type == "mpi.registration_conflict")).all()
        assert len(events) == 1 and events[0].actor_id == a.institution_id


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"resident_id": "320106196203150012", "name": "张伟"}, "invalid-resident-id"),  # wrong check digit
        ({"resident_id": "320106196213150013", "name": "张伟"}, "invalid-resident-id"),  # month 13
        ({"resident_id": ZHANG, "name": "张伟", "birth_date": "1962-03-16"}, "birth-date-mismatch"),
        ({"resident_id": ZHANG, "name": "张伟", "sex": "F"}, "sex-mismatch"),
    ],
)
def test_invalid_registrations_get_422(client: TestClient, engine: Engine, body: dict[str, object], code: str) -> None:
    a = _hospital(engine, "无锡人民医院")
    status, problem = _put(client, a.api_key, "X1", **body)
    assert status == 422 and str(problem["type"]).endswith(code)


def test_registration_needs_a_hospital_key(client: TestClient) -> None:
    response = client.put("/api/v1/institution/patients/X", json={"resident_id": ZHANG, "name": "张伟"})
    assert response.status_code == 401


def test_studies_uploaded_before_registration_join_the_person(engine: Engine, settings: Settings) -> None:
    a, b = _hospital(engine, "常州一院"), _hospital(engine, "南通附院")
    rid = generate_resident_id(region_code="320402", birth_date=date(1990, 5, 1), sex="F", sequence=7)
    index = service.resident_id_index(settings=settings, resident_id=rid)
    with session_scope(engine) as s:
        waiting = Study(institution_id=a.institution_id, study_instance_uid="1.2.3", local_patient_id="L9")
        other_patient = Study(institution_id=a.institution_id, study_instance_uid="1.2.4", local_patient_id="L10")
        elsewhere = Study(institution_id=b.institution_id, study_instance_uid="1.2.5", local_patient_id="L9")
        by_rid = Study(institution_id=b.institution_id, study_instance_uid="1.2.6", resident_id_index=index)
        s.add_all([waiting, other_patient, elsewhere, by_rid])
    with session_scope(engine) as s:
        result = service.register_patient(
            session=s, settings=settings, institution_id=a.institution_id, local_patient_id="L9",
            resident_id=rid, name="李娜",
        )
        person_id = result.person.id
    with session_scope(engine) as s:
        matched = {st.study_instance_uid: st.person_id for st in s.exec(select(Study)).all()}
    assert matched == {"1.2.3": person_id, "1.2.4": None, "1.2.5": None, "1.2.6": person_id}


def test_service_conflict_and_validation_errors(engine: Engine, settings: Settings) -> None:
    a = _hospital(engine, "徐州医院")
    with session_scope(engine) as s:
        service.register_patient(
            session=s, settings=settings, institution_id=a.institution_id, local_patient_id="Q", resident_id=ZHANG,
            name="张伟",
        )
    with session_scope(engine) as s, pytest.raises(Conflict):
        service.register_patient(
            session=s, settings=settings, institution_id=a.institution_id, local_patient_id="Q", resident_id=WANG,
            name="王芳",
        )
    with session_scope(engine) as s, pytest.raises(Unprocessable):
        service.register_patient(
            session=s, settings=settings, institution_id=a.institution_id, local_patient_id="R", resident_id="123",
            name="x",
        )
