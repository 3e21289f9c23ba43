"""What plugs into the core, in one explicit list (pydicom's ``config`` plugin tables are the model):
the record kinds the timeline shows and the MPI hooks that run when a hospital's patient ID links to a
person. ``install()`` runs at start-up — ``create_app``, the CLI, background workers — and is safe to
call again. A new record kind is a module and one line here.
"""

from __future__ import annotations

from backend.checkups import record_kind as checkups
from backend.ingest import matching
from backend.labs import record_kind as labs
from backend.people import service as people
from backend.records import hooks as records_hooks
from backend.records import registry
from backend.reminders import service as reminders
from backend.studies import record_kind as imaging

RECORD_KINDS: tuple[registry.RecordKind, ...] = (imaging.RECORD_KIND, labs.RECORD_KIND, checkups.RECORD_KIND)

# In order: studies join first (they carry resident IDs), then every kind's waiting timeline entries,
# then studies from other hospitals whose header named this person's resident ID.
PERSON_LINKED_HOOKS: tuple[people.PersonLinkedHook, ...] = (
    matching.match_waiting_studies,
    records_hooks.join_waiting_records,
    imaging.join_studies_by_resident_id,
)


# Told when a person's timeline entries change (records/registry.py): derived rows follow in the same
# transaction — the follow-up reminders the daily notice job reads (reminders/models.py).
ENTRY_HOOKS: tuple[registry.EntriesChanged, ...] = (reminders.on_entries_changed,)


def install() -> None:
    for kind in RECORD_KINDS:
        registry.register(kind)
    people.install_hooks(PERSON_LINKED_HOOKS)
    registry.install_entry_hooks(ENTRY_HOOKS)
