"""The WeChat part of the demo dataset (called from ``backend/demo.py``; idempotent).

Simulator test users listed on its authorize page — ``demo-patient`` (bound to 张伟), ``demo-relative``
(unbound, no grants), ``demo-new`` (unbound; can bind 王芳 through the OTP flow) — and their accounts.
The demo persons come from the hospital-ingest part of the demo; if it has not created them, a
minimal MPI row is made here with the same encrypted/blind-indexed columns.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.principals import OperatorPrincipal
from backend.auth.binding import CONSENT_PURPOSE, CONSENT_VERSION
from backend.auth.models import Account, Binding, Consent
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import blind_index, encrypt
from backend.db import session_scope
from backend.people.models import Person
from backend.people.resident_id import parse_resident_id

DEMO_USERS = (
    ("demo-patient", "张伟（演示·已绑定）"),
    ("demo-relative", "张小明（演示·家属）"),
    ("demo-new", "王芳（演示·未绑定）"),
)
DEMO_PERSONS = (
    ("张伟", "320106196203150013", None),
    ("王芳", "320102198503120020", "13800138000"),
)
DEMO_REALNAMES = {"demo-patient": ("张伟", "320106196203150013"), "demo-new": ("王芳", "320102198503120020")}


def ensure_person(session: Session, *, settings: Settings, name: str, resident_id: str, phone: str | None) -> Person:
    rid = parse_resident_id(resident_id)
    index = blind_index(key=settings.secret_bytes("blind_index_key"), value=rid.number, purpose="resident_id")
    person = session.exec(select(Person).where(Person.resident_id_index == index)).first()
    if person is None:
        enc = settings.secret_bytes("encryption_key")
        person = Person(
            name=name, sex=rid.sex, birth_date=rid.birth_date,
            resident_id_cipher=encrypt(key=enc, plaintext=rid.number), resident_id_index=index,
            resident_id_prefix=rid.number[:4], resident_id_last4=rid.number[-4:],
        )
    if phone and person.phone_cipher is None:  # the demo's own persons: their verified phone, from the start
        person.phone_cipher = encrypt(key=settings.secret_bytes("encryption_key"), plaintext=phone)
        person.phone_index = blind_index(key=settings.secret_bytes("blind_index_key"), value=phone, purpose="phone")
        person.phone_source, person.phone_verified_at = "first-registration", utcnow()
    session.add(person)
    session.flush()
    return person


def ensure_account(session: Session, *, openid: str, nickname: str) -> Account:
    account = session.exec(select(Account).where(Account.openid == openid)).first()
    if account is None:
        account = Account(openid=openid, nickname=nickname)
        session.add(account)
        session.flush()
    return account


def bind(session: Session, *, account: Account, person: Person) -> bool:
    if session.exec(
        select(Binding.id).where(Binding.account_id == account.id, col(Binding.revoked_at).is_(None))
    ).first():
        return False
    binding = Binding(account_id=account.id, person_id=person.id)
    session.add(binding)
    session.add(Consent(account_id=account.id, person_id=person.id, policy_version=CONSENT_VERSION,
                        purpose=CONSENT_PURPOSE))
    session.flush()
    audit.record(session, principal=OperatorPrincipal(), action=audit.CREATE, event_type="binding.create",
                 person_id=person.id, object_type="binding", object_id=binding.id, detail={"demo": True})
    return True


def seed_wechat(*, settings: Settings, engine: Engine, today: date | None = None) -> str:
    del today
    with session_scope(engine) as session:
        if settings.wechat_simulator:
            from backend.auth.simulator.service import ensure_user, set_realname

            for openid, nickname in DEMO_USERS:
                ensure_user(session, openid=openid, nickname=nickname, listed=True)
            # WeChat's real-name identity of the demo users, for the face-verification binding path.
            for openid, (name, resident_id) in DEMO_REALNAMES.items():
                set_realname(session, openid=openid, name=name, id_number=resident_id)
        accounts = {openid: ensure_account(session, openid=openid, nickname=nick) for openid, nick in DEMO_USERS}
        persons = {
            name: ensure_person(session, settings=settings, name=name, resident_id=rid, phone=phone)
            for name, rid, phone in DEMO_PERSONS
        }
        bound = bind(session, account=accounts["demo-patient"], person=persons["张伟"])
    return f"wechat demo: {len(DEMO_USERS)} simulator users, demo-patient bound to 张伟{' (new)' if bound else ''}"
