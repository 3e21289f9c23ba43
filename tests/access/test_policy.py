"""The access policy: an account reads its own bound person; anything else is indistinguishable
from a person that does not exist."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from backend.access.principals import AccountPrincipal, Anonymous, InstitutionPrincipal
from backend.access.service import authorize_person
from backend.auth.models import Account, Binding
from backend.clock import utcnow
from backend.db import session_scope
from backend.errors import NotFound
from backend.people.models import Person


def _setup(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as s:
        me, other = Person(name="张伟"), Person(name="王芳")
        account, stranger = Account(openid="o-me"), Account(openid="o-stranger")
        s.add_all([me, other, account, stranger])
        s.flush()
        s.add(Binding(account_id=account.id, person_id=me.id))
        return {"me": me.id, "other": other.id, "account": account.id, "stranger": stranger.id}


def test_account_reads_its_own_person(engine: Engine) -> None:
    ids = _setup(engine)
    with session_scope(engine) as s:
        access = authorize_person(session=s, principal=AccountPrincipal(ids["account"]), person_id=ids["me"])
    assert (access.relation, access.may_share, access.kinds) == ("self", True, None)


@pytest.mark.parametrize("target", ["other", "missing"])
def test_other_and_missing_people_are_the_same_404(engine: Engine, target: str) -> None:
    ids = _setup(engine)
    person_id = ids.get(target, "0" * 32)
    with session_scope(engine) as s, pytest.raises(NotFound) as info:
        authorize_person(session=s, principal=AccountPrincipal(ids["account"]), person_id=person_id)
    assert info.value.code == "person-not-found"


@pytest.mark.parametrize(
    "principal",
    [Anonymous(), InstitutionPrincipal(institution_id="i", key_id="k")],
)
def test_principals_without_a_path_to_the_person_get_404(engine: Engine, principal: object) -> None:
    ids = _setup(engine)
    with session_scope(engine) as s, pytest.raises(NotFound):
        authorize_person(session=s, principal=principal, person_id=ids["me"])  # type: ignore[arg-type]


def test_revoked_binding_loses_access_immediately(engine: Engine) -> None:
    ids = _setup(engine)
    with session_scope(engine) as s:
        binding = s.exec(  # type: ignore[call-overload]
            Binding.__table__.select().where(Binding.__table__.c.account_id == ids["account"])
        ).first()
        row = s.get(Binding, binding.id)
        row.revoked_at = utcnow()
        s.add(row)
    with session_scope(engine) as s, pytest.raises(NotFound):
        authorize_person(session=s, principal=AccountPrincipal(ids["account"]), person_id=ids["me"])
