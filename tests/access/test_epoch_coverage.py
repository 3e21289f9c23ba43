"""No table the access policy reads escapes the access epoch (issue 15, item 7).

The preview hot path reuses a decision while the epoch is unchanged (access/epoch.py), and the epoch
moves only through the triggers of migration 0012. A future grant-like table that the policy starts
to read, without a trigger, would let the hot path serve from a stale decision after a revocation.

So the tables are not listed by hand: they are discovered by running the policy — ``authorize_person``,
``dicomweb_study_filter`` (executed, as QIDO and WADO do) and ``people_for_account`` — for every kind
of principal, plus the principal resolvers whose answers the hot path caches with the decision (account
and share cookies), against a world with a binding, grants, a live share with a session, and recording
every table named in the SQL the database actually received (a ``before_cursor_execute`` listener).
Each such table must carry an epoch trigger for INSERT, UPDATE and DELETE — or the (table, event) pair
is listed in EXEMPT with the reason it cannot narrow an access decision. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Table, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import visitors
from sqlmodel import Session, select
from starlette.requests import Request

from backend.access.principals import (
    AccountPrincipal,
    Anonymous,
    InstitutionPrincipal,
    OperatorPrincipal,
    Principal,
    SharePrincipal,
)
from backend.access.service import authorize_person, dicomweb_study_filter, people_for_account
from backend.auth.web import resolve_account
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import lookup_digest, random_token
from backend.db import session_scope
from backend.errors import AppError
from backend.family.models import GUARDIAN
from backend.sharing import rules as share_rules
from backend.sharing.models import Share, ShareSession, ShareStudy
from backend.sharing.web import SHARE_COOKIE, resolve_share
from backend.studies.models import Study
from tests.family import helpers as h

EVENTS = ("INSERT", "UPDATE", "DELETE")
# (table, event) pairs that need no trigger, and why: a write of that kind can only widen access or
# leave it unchanged — never narrow a decision the hot path may have cached (only positive ones are).
EXEMPT: dict[tuple[str, str], str] = {
    ("auth_session", "INSERT"): "a new login session is a new credential: no cached decision names it",
    ("share", "INSERT"): "a new share has no session yet, so no decision was made through it",
    ("share_session", "INSERT"): "a new share session is a new credential: no cached decision names it",
    ("person", "INSERT"): "a new person has no binding, grant or share yet",
    ("person", "UPDATE"): "the policy reads only that the person exists (a DELETE is watched)",
    ("imaging_study", "INSERT"): "a new study is not yet in any cached decision (ingest must not flush caches)",
}
_FROM = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)


class TableRecorder:
    """The tables named by every statement the engine sends while recording is on."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.tables, self.on = engine, set[str](), False

    def __call__(self, conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        if not self.on:
            return
        compiled = getattr(context, "compiled", None)
        if compiled is not None and getattr(compiled, "statement", None) is not None:
            self.tables |= {e.name for e in visitors.iterate(compiled.statement) if isinstance(e, Table)}
        self.tables |= {name.lower() for name in _FROM.findall(statement)}

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        event.listen(self.engine, "before_cursor_execute", self)
        self.on = True
        try:
            yield self.tables
        finally:
            self.on = False
            event.remove(self.engine, "before_cursor_execute", self)


def _request(app: Any, cookies: dict[str, str], path: str) -> Request:
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "app": app,
                    "headers": [(b"cookie", cookie.encode())]})


def _world(engine: Engine, settings: Settings) -> dict[str, Any]:
    """A patient with a study, bound to an owner; a relative (imaging grant), a guardian-kind grant, a
    stranger; a live share of the study with an open session."""
    inst = h.hospital(engine)
    born = h.years_ago(40)
    person = h.person(engine, settings, inst, local_id="P1", resident_id=h.rid_for(born), name="张伟")
    study = h.study(engine, inst, local_id="P1", uid="1.2.826.0.1.3680043.9.7015.1")
    owner = h.account(engine, "cov-owner", bind_to=person)
    relative = h.account(engine, "cov-relative")
    h.grant(engine, person_id=person, account_id=relative, scope="imaging")
    guardian = h.account(engine, "cov-guardian")
    h.grant(engine, person_id=person, account_id=guardian, relationship="parent", kind=GUARDIAN)
    stranger = h.account(engine, "cov-stranger")
    secret = random_token(share_rules.SESSION_PREFIX, nbytes=32)
    with session_scope(engine) as s:
        share = Share(person_id=person, created_by_account_id=owner,
                      token_digest=lookup_digest(random_token(share_rules.TOKEN_PREFIX, nbytes=24)),
                      scope="studies", expires_at=utcnow() + timedelta(hours=1))
        s.add(share)
        s.flush()
        s.add(ShareStudy(share_id=share.id, study_id=study))
        row = ShareSession(share_id=share.id, secret_digest=lookup_digest(secret),
                           expires_at=utcnow() + timedelta(hours=1))
        s.add(row)
        s.flush()
        share_id, share_session_id = share.id, row.id
    cookies = {name: h.cookie_headers(engine, settings, account)["Cookie"]
               for name, account in (("owner", owner), ("relative", relative), ("guardian", guardian),
                                     ("stranger", stranger))}
    return {"inst": inst, "person": person, "owner": owner, "relative": relative, "guardian": guardian,
            "stranger": stranger, "share": SharePrincipal(share_id=share_id, session_id=share_session_id),
            "share_secret": secret, "cookies": cookies}


def _principals(world: dict[str, Any]) -> list[Principal]:
    return [
        AccountPrincipal(account_id=world["owner"]),
        AccountPrincipal(account_id=world["relative"]),
        AccountPrincipal(account_id=world["guardian"]),
        AccountPrincipal(account_id=world["stranger"]),
        world["share"],
        InstitutionPrincipal(institution_id=world["inst"].id, key_id="k"),
        OperatorPrincipal(),
        Anonymous(),
    ]


def _run_policy(session: Session, app: Any, world: dict[str, Any]) -> int:
    """Every decision the policy makes, for every principal kind; returns how many were positive."""
    positive = 0
    for principal in _principals(world):
        try:
            authorize_person(session=session, principal=principal, person_id=world["person"])
            positive += 1
        except AppError:
            pass
        session.exec(select(Study.id).where(dicomweb_study_filter(session=session, principal=principal))).all()
        if isinstance(principal, AccountPrincipal):
            people_for_account(session=session, account_id=principal.account_id)
    # The credentials behind a cached decision: the resolvers the hot path runs first.
    path = f"/api/v1/people/{world['person']}/previews/x"
    for raw in world["cookies"].values():
        cookies = dict(part.split("=", 1) for part in raw.split("; "))
        assert resolve_account(_request(app, cookies, path), session) is not None
    assert resolve_share(_request(app, {SHARE_COOKIE: world["share_secret"]}, path), session) is not None
    return positive


def watched(conn: Connection) -> set[tuple[str, str]]:
    """(table, event) pairs that a trigger bumping the access epoch watches, read from the catalog."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text(
            "SELECT c.relname, t.tgtype FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
            "AND p.proname = 'access_epoch_bump'"))
        # pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h): 4 INSERT, 8 DELETE, 16 UPDATE
        bits = {"INSERT": 4, "DELETE": 8, "UPDATE": 16}
        return {(table, ev) for table, tgtype in rows for ev, bit in bits.items() if tgtype & bit}
    found = set()
    for table, sql in conn.execute(text("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")):
        body = " ".join(sql.split()).upper()
        head, _, action = body.partition(" BEGIN ")
        if "ACCESS_EPOCH" not in action:
            continue
        found |= {(table, ev) for ev in EVENTS if f" {ev} " in f"{head} "}
    return found


def unwatched(read: set[str], present: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((table, ev) for table in read for ev in EVENTS
                  if (table, ev) not in present and (table, ev) not in EXEMPT)


@pytest.fixture
def policy_tables(app: Any, engine: Engine, settings: Settings) -> set[str]:
    world = _world(engine, settings)
    recorder = TableRecorder(engine)
    with session_scope(engine, readonly=True) as session, recorder.recording() as tables:
        positive = _run_policy(session, app, world)
    # The world must exercise the positive paths: self, the relative's grant, the guardian, the share,
    # the operator (and the stranger, the hospital and anonymity the negative ones).
    assert positive == 5
    return set(tables)


def test_the_discovery_sees_the_tables_of_bindings_grants_and_shares(policy_tables: set[str]) -> None:
    # A sanity check of the recorder itself, not the list under test.
    assert {"binding", "family_grant", "share", "share_session", "share_study", "person",
            "imaging_study", "auth_session"} <= policy_tables


def test_every_table_the_policy_reads_is_watched_by_the_epoch_triggers(
    policy_tables: set[str], engine: Engine
) -> None:
    with engine.connect() as conn:
        present = watched(conn)
    missing = unwatched(policy_tables, present)
    assert not missing, f"tables the access policy reads without an access-epoch trigger: {missing}"


def test_the_check_fails_when_one_trigger_is_dropped(policy_tables: set[str], engine: Engine) -> None:
    """Proof the check can fail: drop one trigger inside a transaction (DDL is transactional on both
    databases) and the table shows up; rolled back, so other tests keep the trigger."""
    drop = "DROP TRIGGER access_epoch_family_grant_update"
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text(drop + (" ON family_grant" if conn.dialect.name == "postgresql" else "")))
            missing = unwatched(policy_tables, watched(conn))
        finally:
            trans.rollback()
        assert missing == [("family_grant", "UPDATE")]
        assert not unwatched(policy_tables, watched(conn))


def test_a_new_table_the_policy_reads_fails_the_check(policy_tables: set[str], engine: Engine) -> None:
    """A future grant-like table (here a stand-in name) is reported until its triggers exist."""
    with engine.connect() as conn:
        present = watched(conn)
    assert unwatched(policy_tables | {"caregiver_delegation"}, present) == [
        ("caregiver_delegation", ev) for ev in sorted(EVENTS)]

