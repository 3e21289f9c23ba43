"""The master patient index (MPI): hospitals register patients, local IDs link to one person.

* A person is identified across hospitals by the resident ID number (GB 11643-1999). It is stored
  only as AES-GCM ciphertext plus an HMAC blind index (DESIGN.md rule 2); the first and last four
  characters are kept for masked display.
* Each hospital knows the person by its local patient ID (MRN, DICOM PatientID (0010,0020)):
  ``PersonLink(institution_id, local_patient_id) -> person``, unique per hospital.
* The same local ID registered again with a different resident ID is a conflict: refused and
  audited, never merged (a hospital's MRN mix-up must not show one patient's records to another).
* Records that arrived before the registration (studies, reports, labs) join the person through
  hooks that run in the same transaction right after a new link exists. The hooks are the explicit
  list in ``backend/plugins.py``, installed at start-up; linking without them is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.access import audit
from backend.access.principals import InstitutionPrincipal
from backend.auth.sms import SmsSender
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import blind_index, encrypt
from backend.errors import Conflict, Unprocessable
from backend.people import contacts
from backend.people.masking import person_resident_id
from backend.people.models import Person, PersonLink
from backend.people.resident_id import ResidentIdError, normalize_resident_id, parse_resident_id

RESIDENT_ID_PURPOSE = "resident_id"

_Row = TypeVar("_Row", Person, PersonLink)


@dataclass(frozen=True, slots=True)
class Joined:
    """A record that joined a person's timeline because of a new MPI link."""

    person_id: str
    kind: str
    ref_id: str


class PersonLinkedHook(Protocol):
    def __call__(self, *, session: Session, institution_id: str, local_patient_id: str,
                 person_id: str) -> list[Joined]: ...


_hooks: list[PersonLinkedHook] = []
_installed = False


def install_hooks(hooks: Sequence[PersonLinkedHook]) -> None:
    """Called once per process with the explicit list in ``backend/plugins.py``."""
    global _installed
    _hooks[:] = list(hooks)
    _installed = True


def _run_hooks(*, session: Session, institution_id: str, local_patient_id: str, person_id: str) -> list[Joined]:
    if not _installed:
        # A process that links without the plugins would leave waiting records behind, silently.
        raise RuntimeError("MPI hooks are not installed: call backend.plugins.install() at start-up")
    joined: list[Joined] = []
    for hook in _hooks:
        joined += hook(session=session, institution_id=institution_id, local_patient_id=local_patient_id,
                       person_id=person_id)
    return joined


def resident_id_index(*, settings: Settings, resident_id: str) -> str:
    """The blind index of a (normalized) resident ID, for lookups."""
    key = settings.secret_bytes("blind_index_key")
    return blind_index(key=key, value=normalize_resident_id(resident_id), purpose=RESIDENT_ID_PURPOSE)


@dataclass(frozen=True, slots=True)
class Registration:
    person: Person
    link: PersonLink
    created_person: bool
    created_link: bool
    joined: list[Joined]

    @property
    def masked_resident_id(self) -> str:
        return person_resident_id(self.person)


def resolve_person(
    *, session: Session, institution_id: str, local_patient_id: str | None, resident_id_index: str | None = None
) -> str | None:
    """The person a hospital's local patient ID (or, failing that, a resident ID's index) stands for."""
    if local_patient_id:
        found = session.exec(
            select(PersonLink.person_id).where(
                PersonLink.institution_id == institution_id, PersonLink.local_patient_id == local_patient_id
            )
        ).first()
        if found:
            return found
    if resident_id_index:
        return session.exec(select(Person.id).where(Person.resident_id_index == resident_id_index)).first()
    return None


def register_patient(
    *,
    session: Session,
    settings: Settings,
    institution_id: str,
    local_patient_id: str,
    resident_id: str,
    name: str,
    sex: str | None = None,
    birth_date: date | None = None,
    phone: str | None = None,
    key_id: str = "-",
    sms: SmsSender | None = None,
) -> Registration:
    """Find or create the person by resident ID and link ``(institution_id, local_patient_id)`` to it.

    Raises Unprocessable for an invalid resident ID (or sex / birth date contradicting it) and
    Conflict when the local ID already belongs to a different person. The conflict's audit event is
    queued on ``session``: the caller must commit the session even though it answers an error
    (the router does; see ``backend.people.router``).
    """
    try:
        rid = parse_resident_id(resident_id)
    except ResidentIdError as exc:
        raise Unprocessable(
            exc.message_en, code="invalid-resident-id", zh=exc.message_zh, field="resident_id"
        ) from None
    if birth_date is not None and birth_date != rid.birth_date:
        raise Unprocessable(
            "birth_date does not match the date of birth in the resident ID number",
            code="birth-date-mismatch",
            zh="出生日期与身份证号不符",
        )
    if sex in ("M", "F") and sex != rid.sex:
        raise Unprocessable(
            "sex does not match the resident ID number (GB 11643-1999 §4.3)",
            code="sex-mismatch",
            zh="性别与身份证号不符",
        )
    index = resident_id_index(settings=settings, resident_id=rid.number)
    link = _find_link(session, institution_id, local_patient_id)
    if link is not None:
        linked = session.get(Person, link.person_id)
        if linked is None or linked.resident_id_index != index:
            audit.record(
                session,
                principal=InstitutionPrincipal(institution_id=institution_id, key_id=key_id),
                action=audit.UPDATE,
                event_type="mpi.registration_conflict",
                person_id=link.person_id,
                object_type="person_link",
                object_id=link.id,
                outcome=audit.MINOR_FAILURE,
                detail={"reason": "local patient ID already linked to a different resident ID"},
            )
            raise Conflict(
                "This local patient ID is already registered with a different resident ID number; "
                "records are never merged automatically.",
                code="patient-registration-conflict",
                zh="该院内患者号已登记为另一身份证号，系统不会自动合并",
            )
    person, created_person = _find_or_create_person(
        session, settings=settings, index=index, number=rid.number, name=name, sex=rid.sex, birth=rid.birth_date
    )
    created_link = False
    if link is None:
        link, created_link = _create_link(session, institution_id, local_patient_id, person.id)
        if link.person_id != person.id:  # a concurrent registration of this local ID won the race
            raise Conflict(
                "This local patient ID was just registered with a different resident ID number.",
                code="patient-registration-conflict",
                zh="该院内患者号已登记为另一身份证号，系统不会自动合并",
            )
    else:
        link.updated_at = utcnow()
        session.add(link)
    # The phone is this hospital's contact data; it reaches the verified phone only with proof.
    contacts.save_hospital_contact(session, settings=settings, link=link, phone=phone)
    contacts.on_registration(session, settings=settings, sms=sms, person=person, created_person=created_person,
                             institution_id=institution_id, phone=phone, key_id=key_id)
    session.flush()
    joined = _run_hooks(session=session, institution_id=institution_id, local_patient_id=local_patient_id,
                        person_id=person.id) if created_link else []
    return Registration(person=person, link=link, created_person=created_person, created_link=created_link,
                        joined=joined)


@dataclass(frozen=True, slots=True)
class Linked:
    person_id: str
    joined: list[Joined]


def link_by_resident_id(
    *,
    session: Session,
    settings: Settings,
    institution_id: str,
    local_patient_id: str | None,
    resident_id: str,
    name: str | None,
) -> Linked | None:
    """Ingest path: a DICOM header carried the resident ID (OtherPatientIDsSequence, issuer CN-RID).

    Finds or creates the person and links the header's PatientID to it when that ID is still free.
    Returns the person and the records that joined it through the new link, or None when the
    resident ID is invalid or the local ID is linked to someone else (the study then stays
    unmatched; nothing is merged).
    """
    try:
        rid = parse_resident_id(resident_id)
    except ResidentIdError:
        return None
    index = resident_id_index(settings=settings, resident_id=rid.number)
    if local_patient_id:
        link = _find_link(session, institution_id, local_patient_id)
        if link is not None:
            linked = session.get(Person, link.person_id)
            return Linked(link.person_id, []) if linked is not None and linked.resident_id_index == index else None
    person, _ = _find_or_create_person(
        session, settings=settings, index=index, number=rid.number, name=name or "", sex=rid.sex, birth=rid.birth_date
    )
    joined: list[Joined] = []
    if local_patient_id:
        new_link, created = _create_link(session, institution_id, local_patient_id, person.id)
        if new_link.person_id != person.id:
            return None
        if created:
            joined = _run_hooks(session=session, institution_id=institution_id, local_patient_id=local_patient_id,
                                person_id=person.id)
    return Linked(person.id, joined)


def _find_link(session: Session, institution_id: str, local_patient_id: str) -> PersonLink | None:
    return session.exec(
        select(PersonLink).where(
            PersonLink.institution_id == institution_id, PersonLink.local_patient_id == local_patient_id
        )
    ).first()


def _find_or_create_person(
    session: Session, *, settings: Settings, index: str, number: str, name: str, sex: str, birth: date
) -> tuple[Person, bool]:
    existing = session.exec(select(Person).where(Person.resident_id_index == index)).first()
    if existing is not None:
        if not existing.name and name:
            existing.name = name[:64]
            session.add(existing)
        return existing, False
    person = Person(
        name=name[:64],
        sex=sex,
        birth_date=birth,
        resident_id_cipher=encrypt(key=settings.secret_bytes("encryption_key"), plaintext=number),
        resident_id_index=index,
        resident_id_prefix=number[:4],
        resident_id_last4=number[-4:],
    )
    return _insert_or_refetch(session, person, lambda: select(Person).where(Person.resident_id_index == index))


def _create_link(
    session: Session, institution_id: str, local_patient_id: str, person_id: str
) -> tuple[PersonLink, bool]:
    link = PersonLink(institution_id=institution_id, local_patient_id=local_patient_id, person_id=person_id)
    return _insert_or_refetch(
        session,
        link,
        lambda: select(PersonLink).where(
            PersonLink.institution_id == institution_id, PersonLink.local_patient_id == local_patient_id
        ),
    )


def _insert_or_refetch(session: Session, row: _Row, query: Callable[[], Any]) -> tuple[_Row, bool]:
    """Insert inside a savepoint; when a concurrent transaction won the unique key, use its row."""
    try:
        with session.begin_nested():
            session.add(row)
        return row, True
    except IntegrityError:
        winner: _Row | None = session.exec(query()).first()
        if winner is None:
            raise
        return winner, False
