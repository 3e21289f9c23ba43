"""The verified phone: the one phone that receives identity codes, and how it may change.

DESIGN.md rule 7 — identity proof never rests on data one party can change. A province has thousands
of hospital keys; one leaked or careless key must not be able to point a patient's identity codes
(binding, guardianship, elder proxy) at a phone of its choosing. So:

* A hospital's registration only ever adds that hospital's own link and contact phone
  (``PersonLink.phone_*``). The first registration, which creates the person, also sets the verified
  phone: there is nobody yet whose records it could expose.
* A registration with a different phone *proposes* a change (``PhoneChange``, pending). The old phone
  gets an SMS and the bound account a WeChat notice at once, in the proposal's transaction.
* A proposal becomes the verified phone only with proof, whichever comes first:
  - the bound account confirms it in the app (it can also reject it);
  - the bound account proves a new phone itself with a code sent to that phone (``prove_own``);
  - ``AGREEMENT`` hospitals that already hold records of the person propose the same phone;
  - nobody is bound and ``WAITING_PERIOD`` passed since the notice to the old phone without a
    rejection (a bound person's phone never changes by waiting: there is an account to ask).
* Every step is audited against the person (``person.phone_*`` events), so the patient sees it in
  the access log, and ``contacts_view`` lists the verified phone, each hospital's contact phone and the
  pending proposals.

Pending proposals are settled lazily, when the verified phone is about to be used
(:func:`verified_phone`) or shown: no background job is needed for the waiting period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import AccountPrincipal, InstitutionPrincipal, Principal
from backend.auth.models import Binding
from backend.auth.sms import SmsSender
from backend.clock import aware, utcnow
from backend.config import Settings
from backend.crypto import blind_index, decrypt, encrypt
from backend.institutions.models import Institution
from backend.notify.service import notify_once
from backend.people.masking import mask_phone, normalize_phone
from backend.people.models import APPLIED, PENDING, REJECTED, SUPERSEDED, Person, PersonLink, PhoneChange
from backend.records.models import TimelineEntry

WAITING_PERIOD = timedelta(days=7)
AGREEMENT = 2  # distinct hospitals holding records of the person, proposing the same phone
PHONE_PURPOSE = "phone"

# How a verified phone came to be (Person.phone_source, PhoneChange.decision).
FIRST_REGISTRATION, ACCOUNT_CONFIRMED, ACCOUNT_SMS, HOSPITALS_AGREE, WAITED = (
    "first-registration", "account-confirmed", "account-sms", "hospitals-agree", "waiting-period")


@dataclass(frozen=True, slots=True)
class HospitalContact:
    institution_name: str
    phone_masked: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PendingChange:
    id: str
    phone_masked: str
    proposed_by: str  # a hospital's name, or "本人"
    created_at: datetime
    effective_at: datetime | None  # None: waits for the bound account (it never applies by waiting)


@dataclass(frozen=True, slots=True)
class ContactsView:
    verified_phone: str | None
    verified_at: datetime | None
    source: str | None
    hospitals: list[HospitalContact]
    pending: list[PendingChange]




def phone_index(settings: Settings, phone: str) -> str:
    return blind_index(key=settings.secret_bytes("blind_index_key"), value=normalize_phone(phone),
                       purpose=PHONE_PURPOSE)


def _cipher(settings: Settings, phone: str) -> bytes:
    return encrypt(key=settings.secret_bytes("encryption_key"), plaintext=normalize_phone(phone))


def _plain(settings: Settings, cipher: bytes) -> str:
    return decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=cipher)


def _bound_accounts(session: Session, person_id: str) -> list[str]:
    return list(session.exec(select(Binding.account_id).where(
        Binding.person_id == person_id, col(Binding.revoked_at).is_(None))).all())


def _notify_accounts(session: Session, *, person_id: str, event_key: str, kind: str) -> None:
    """A WeChat notice to every bound account, once per event (the outbox's unique key)."""
    for account_id in _bound_accounts(session, person_id):
        notify_once(session, event_key=event_key, account_id=account_id, person_id=person_id, kind=kind)


def _set_verified(session: Session, settings: Settings, person: Person, *, phone: str, source: str) -> None:
    person.phone_cipher = _cipher(settings, phone)
    person.phone_index = phone_index(settings, phone)
    person.phone_source, person.phone_verified_at = source, utcnow()
    person.updated_at = utcnow()
    session.add(person)


def save_hospital_contact(session: Session, *, settings: Settings, link: PersonLink, phone: str | None) -> None:
    """The registering hospital's own contact data, on its own link only."""
    if not phone:
        return
    index = phone_index(settings, phone)
    if link.phone_index != index:
        link.phone_cipher, link.phone_index = _cipher(settings, phone), index
        link.updated_at = utcnow()
        session.add(link)


def on_registration(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person,
                    created_person: bool, institution_id: str, phone: str | None, key_id: str = "-") -> None:
    """What a hospital's registered phone does to the verified phone (see the module docstring)."""
    if not phone:
        return
    principal = InstitutionPrincipal(institution_id=institution_id, key_id=key_id)
    if created_person or (person.phone_cipher is None and created_person):
        _set_verified(session, settings, person, phone=phone, source=FIRST_REGISTRATION)
        audit.record(session, principal=principal, action=audit.CREATE, event_type="person.phone_set",
                     person_id=person.id, object_type="person", object_id=person.id,
                     detail={"source": FIRST_REGISTRATION, "phone": mask_phone(phone)})
        return
    if person.phone_index == phone_index(settings, phone):
        return
    _propose(session, settings=settings, sms=sms, person=person, phone=phone, principal=principal,
             proposer=f"institution:{institution_id}", institution_id=institution_id)


def _propose(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person, phone: str,
             principal: Principal, proposer: str, institution_id: str | None) -> PhoneChange | None:
    """Insert a pending proposal unless the same one is pending already (upsert on the partial unique
    index: two concurrent registrations make one proposal and one notice)."""
    index = phone_index(settings, phone)
    existing = session.exec(select(PhoneChange).where(
        PhoneChange.person_id == person.id, PhoneChange.phone_index == index, PhoneChange.proposer == proposer,
        PhoneChange.status == PENDING)).first()
    if existing is not None:
        return None
    row = PhoneChange(person_id=person.id, phone_cipher=_cipher(settings, phone), phone_index=index,
                      phone_masked=mask_phone(phone), proposer=proposer, institution_id=institution_id,
                      effective_at=utcnow() + WAITING_PERIOD)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    audit.record(session, principal=principal, action=audit.CREATE, event_type="person.phone_proposed",
                 person_id=person.id, object_type="phone_change", object_id=row.id,
                 detail={"phone": row.phone_masked, "by": proposer.split(":", 1)[0]})
    if person.phone_cipher is not None and sms is not None and sms.available:
        old = _plain(settings, person.phone_cipher)
        sms.send(session=session, phone=old, code="", text=(
            f"【云影】有医院为您登记了新的手机号{row.phone_masked}。它不会自动用于身份验证；如非您本人的号码，"
            "请在云影“联系方式”中拒绝，或联系就诊医院。"))
    _notify_accounts(session, person_id=person.id, event_key=f"phone-change:{row.id}", kind="phone_proposed")
    _settle(session, settings=settings, sms=sms, person=person)
    return row


def _holding_institutions(session: Session, person_id: str) -> set[str]:
    rows = session.exec(select(TimelineEntry.institution_id).where(
        TimelineEntry.person_id == person_id, col(TimelineEntry.institution_id).is_not(None)).distinct()).all()
    return {r for r in rows if r}


def _apply(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person, change: PhoneChange,
           decision: str, principal: Principal) -> None:
    old_cipher = person.phone_cipher
    phone = _plain(settings, change.phone_cipher)
    _set_verified(session, settings, person, phone=phone, source=decision)
    now = utcnow()
    for row in session.exec(select(PhoneChange).where(PhoneChange.person_id == person.id,
                                                      PhoneChange.status == PENDING)).all():
        same = row.phone_index == change.phone_index
        row.status = APPLIED if same else SUPERSEDED
        row.decided_at, row.decision = now, decision if same else "superseded"
        session.add(row)
    audit.record(session, principal=principal, action=audit.UPDATE, event_type="person.phone_changed",
                 person_id=person.id, object_type="phone_change", object_id=change.id,
                 detail={"phone": change.phone_masked, "how": decision})
    if old_cipher is not None and sms is not None and sms.available:
        sms.send(session=session, phone=_plain(settings, old_cipher), code="", text=(
            f"【云影】您用于身份验证的手机号已变更为{change.phone_masked}。如非您本人操作，请立即联系就诊医院。"))
    _notify_accounts(session, person_id=person.id, event_key=f"phone-changed:{change.id}", kind="phone_changed")


def _settle(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person) -> None:
    """Apply the pending proposal that has its proof now: hospitals agreeing, or (nobody bound) the
    waiting period over. Newest first; one change at most."""
    pending = list(session.exec(select(PhoneChange).where(PhoneChange.person_id == person.id,
                                                          PhoneChange.status == PENDING)
                                .order_by(col(PhoneChange.created_at).desc())).all())
    if not pending:
        return
    holders = _holding_institutions(session, person.id)
    system = InstitutionPrincipal(institution_id="-", key_id="-")
    for change in pending:
        agreeing = {c.institution_id for c in pending if c.phone_index == change.phone_index and c.institution_id}
        if len(agreeing & holders) >= AGREEMENT:
            _apply(session, settings=settings, sms=sms, person=person, change=change, decision=HOSPITALS_AGREE,
                   principal=system)
            return
    if _bound_accounts(session, person.id):
        return
    now = utcnow()
    for change in pending:
        if aware(change.effective_at) <= now:
            _apply(session, settings=settings, sms=sms, person=person, change=change, decision=WAITED,
                   principal=system)
            return


def verified_phone(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person) -> str | None:
    """The phone identity codes go to, after settling proposals whose proof is complete."""
    _settle(session, settings=settings, sms=sms, person=person)
    return _plain(settings, person.phone_cipher) if person.phone_cipher is not None else None


def decide(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person, account_id: str,
           change_id: str, accept: bool) -> PhoneChange | None:
    """The bound account confirms or rejects a pending proposal (the caller checked it is "self")."""
    change = session.get(PhoneChange, change_id)
    if change is None or change.person_id != person.id or change.status != PENDING:
        return None
    principal = AccountPrincipal(account_id)
    if accept:
        _apply(session, settings=settings, sms=sms, person=person, change=change, decision=ACCOUNT_CONFIRMED,
               principal=principal)
    else:
        change.status, change.decided_at, change.decided_by, change.decision = (
            REJECTED, utcnow(), f"account:{account_id}", "rejected")
        session.add(change)
        audit.record(session, principal=principal, action=audit.UPDATE, event_type="person.phone_rejected",
                     person_id=person.id, object_type="phone_change", object_id=change.id,
                     detail={"phone": change.phone_masked})
    return change


def prove_own(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person, account_id: str,
              phone: str) -> None:
    """The bound account proved ``phone`` with a code sent to it: it becomes the verified phone."""
    principal = AccountPrincipal(account_id)
    if person.phone_index == phone_index(settings, phone):
        return
    change = PhoneChange(person_id=person.id, phone_cipher=_cipher(settings, phone),
                         phone_index=phone_index(settings, phone), phone_masked=mask_phone(phone),
                         proposer=f"account:{account_id}", effective_at=utcnow())
    session.add(change)
    session.flush()
    _apply(session, settings=settings, sms=sms, person=person, change=change, decision=ACCOUNT_SMS,
           principal=principal)


def contacts_view(session: Session, *, settings: Settings, sms: SmsSender | None, person: Person) -> ContactsView:
    _settle(session, settings=settings, sms=sms, person=person)
    names = dict(session.exec(select(Institution.id, Institution.name)).all())
    links = session.exec(select(PersonLink).where(PersonLink.person_id == person.id)
                         .order_by(col(PersonLink.created_at))).all()
    hospitals = [HospitalContact(institution_name=names.get(link.institution_id, ""),
                                 phone_masked=mask_phone(_plain(settings, link.phone_cipher))
                                 if link.phone_cipher else None,
                                 updated_at=aware(link.updated_at)) for link in links]
    bound = bool(_bound_accounts(session, person.id))
    pending = [PendingChange(id=c.id, phone_masked=c.phone_masked,
                             proposed_by=names.get(c.institution_id or "", "本人"),
                             created_at=aware(c.created_at), effective_at=None if bound else aware(c.effective_at))
               for c in session.exec(select(PhoneChange).where(PhoneChange.person_id == person.id,
                                                               PhoneChange.status == PENDING)
                                     .order_by(col(PhoneChange.created_at).desc())).all()]
    verified = mask_phone(_plain(settings, person.phone_cipher)) if person.phone_cipher else None
    return ContactsView(verified_phone=verified,
                        verified_at=aware(person.phone_verified_at) if person.phone_verified_at else None,
                        source=person.phone_source, hospitals=hospitals, pending=pending)
