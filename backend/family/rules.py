"""Pure rules of family access: relationships, scopes, ages, and a grant's status *now*.

No I/O. The clock is injectable (:func:`travel`) so tests can move to a ward's 14th and 18th
birthday; every decision in the access policy reads :func:`now`.

Ages (PIPL art. 31; Civil Code art. 17-19): personal information of a minor under 14 is handled with
the guardian's consent, so a guardian may bind a child below 14. From 14 the minor consents for
themself: a guardian grant waits ("pending") until the teenager's own bound account confirms it.
At 18 the ward is an adult: guardian grants end, whatever was confirmed before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime

from backend.clock import aware, cst_date, utcnow
from backend.family.models import (
    ACTIVE,
    ENDED,
    GUARDIAN,
    PENDING,
    SCOPE_ALL,
    SCOPE_IMAGING,
    SCOPE_KINDS,
    Grant,
)

GUARDIAN_MAX_AGE = 14  # a guardian may bind a child below this age (PIPL art. 31)
ADULT_AGE = 18  # guardian grants end here (Civil Code art. 17)

# relationship: what the grantee is to the grantor → (中文, English, the inverse relation)
RELATIONSHIPS: dict[str, tuple[str, str, str]] = {
    "spouse": ("配偶", "spouse", "spouse"),
    "parent": ("父母", "parent", "child"),
    "child": ("子女", "child", "parent"),
    "sibling": ("兄弟姐妹", "sibling", "sibling"),
    "grandparent": ("祖父母/外祖父母", "grandparent", "grandchild"),
    "grandchild": ("孙子女/外孙子女", "grandchild", "grandparent"),
    "guardian": ("监护人", "guardian", "ward"),
    "other": ("其他", "other", "other"),
}
GUARDIAN_RELATIONSHIPS = frozenset({"parent", "grandparent", "sibling", "guardian", "other"})
IMAGING_KINDS = frozenset({"imaging_study"})

_clock: Callable[[], datetime] = utcnow


def now() -> datetime:
    return _clock()


@contextmanager
def travel(to: datetime) -> Iterator[None]:
    """Tests: every family decision inside the block sees ``to`` (aware) as the current time."""
    global _clock
    previous = _clock
    _clock = lambda: to  # noqa: E731
    try:
        yield
    finally:
        _clock = previous


def today_cst(at: datetime | None = None) -> date:
    return cst_date(at or now())  # birthdays turn over at midnight China Standard Time


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def relationship_label(relationship: str) -> tuple[str, str]:
    zh, en, _ = RELATIONSHIPS.get(relationship, RELATIONSHIPS["other"])
    return zh, en


def inverse_relation(relationship: str) -> str:
    return RELATIONSHIPS.get(relationship, RELATIONSHIPS["other"])[2]


def hidden_refs(value: str | None) -> frozenset[str]:
    """The record ids a grant does not show (stored comma-separated)."""
    return frozenset(r for r in (value or "").split(",") if r)


def scope_kinds(scope: str, kinds: str | None) -> frozenset[str] | None:
    """The record kinds a scope lets a proxy read; None = every kind."""
    if scope == SCOPE_ALL:
        return None
    if scope == SCOPE_IMAGING:
        return IMAGING_KINDS
    if scope == SCOPE_KINDS:
        return frozenset(k for k in (kinds or "").split(",") if k)
    return frozenset()  # an unknown scope reads nothing




def effective_status(grant: Grant, at: datetime | None = None) -> str:
    """The grant's status at ``at``: stored status, then expiry, then the ward's age."""
    at = at or now()
    status = grant.status
    if status not in (PENDING, ACTIVE):
        return status
    if grant.expires_at is not None and aware(grant.expires_at) <= at:
        return "expired"
    if grant.kind == GUARDIAN and grant.ward_birth_date is not None:
        age = age_on(grant.ward_birth_date, today_cst(at))
        if age >= ADULT_AGE:
            return ENDED
        if age >= GUARDIAN_MAX_AGE and grant.teen_confirmed_at is None:
            return PENDING
    return status


def ward_under_consent_age(grant: Grant, at: datetime | None = None) -> bool:
    """A guardian grant's ward is still under 14: the guardian consents (and manages grants) for them."""
    if grant.ward_birth_date is None:
        return False
    return age_on(grant.ward_birth_date, today_cst(at or now())) < GUARDIAN_MAX_AGE
