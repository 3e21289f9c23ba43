"""The record-kind registry: how a kind of record plugs into the timeline.

A kind (imaging study, lab result, checkup, …) describes itself with a :class:`RecordKind`; the one
explicit list in ``backend/plugins.py`` registers every kind at start-up (create_app, the CLI). The
core only ever talks to kinds through this registry, so it never imports one: a new kind is a new
module and one line in that list, not a change here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from backend.errors import BadRequest


@dataclass(frozen=True, slots=True)
class EntrySummary:
    """What a kind tells the timeline about one of its records."""

    occurred_at: datetime
    title: str
    summary: str = ""
    status: str | None = None
    institution_id: str | None = None
    local_patient_id: str | None = None
    person_id: str | None = None  # when the kind already knows it; else the MPI decides
    resident_id_index: str | None = None  # blind index of a resident ID the record carried, if any
    tags: Sequence[str] = ()
    data: dict[str, Any] = field(default_factory=dict)


class Summarizer(Protocol):
    def __call__(self, *, session: Session, ref_id: str) -> EntrySummary | None: ...


class FhirMapper(Protocol):
    """Returns FHIR R4 resources (as dicts) for the given records of one person."""

    def __call__(self, *, session: Session, ref_ids: Sequence[str], patient_ref: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class RecordKind:
    name: str  # stable identifier used in URLs and the database: "lab_result"
    label_zh: str
    label_en: str
    summarize: Summarizer
    detail_path: Callable[[str, str], str]  # (person_id, ref_id) -> path of the kind's detail endpoint
    fhir: FhirMapper | None = None
    filters: frozenset[str] = frozenset()  # facet filters that apply (e.g. {"modality"})


_KINDS: dict[str, RecordKind] = {}


def register(kind: RecordKind) -> RecordKind:
    """Registers (or re-registers, for reloads and tests) a kind. Returns it, for module constants."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def get(name: str) -> RecordKind | None:
    return _KINDS.get(name)


def require(name: str) -> RecordKind:
    kind = _KINDS.get(name)
    if kind is None:
        raise BadRequest(
            f"Unknown record kind {name!r}.", code="unknown-record-kind", known_kinds=sorted(_KINDS)
        )
    return kind


def all_kinds() -> list[RecordKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]


class EntriesChanged(Protocol):
    """Told when a person's timeline entries of ``kind`` (None: of any kind) appeared, moved, changed
    their text or left — not when only counts changed (an instance more). Runs in the writer's
    transaction, so what it derives commits with the change or not at all."""

    def __call__(self, *, session: Session, kind: str | None, person_id: str) -> None: ...


_ENTRY_HOOKS: list[EntriesChanged] = []


def install_entry_hooks(hooks: Sequence[EntriesChanged]) -> None:
    """Called at start-up with the explicit list in ``backend/plugins.py`` (again is harmless)."""
    _ENTRY_HOOKS[:] = list(hooks)


def entries_changed(*, session: Session, kind: str | None, person_ids: set[str | None]) -> None:
    for person_id in sorted(p for p in person_ids if p):
        for hook in _ENTRY_HOOKS:
            hook(session=session, kind=kind, person_id=person_id)
