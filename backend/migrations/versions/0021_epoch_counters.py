"""access: the epoch leaves counters alone — a share's open count, a new study joining its person

Revision ID: 0021_epoch_counters
Revises: 0020_patients_reminders
Create Date: 2026-12-07 00:30:00

Why (issue 18): a bump of the access epoch (0012) makes every web node compute every cached access
decision and every image's facts again at its next use (previews/fastpath.py: the policy's queries and
the whole series' instance facts). Two writes bumped it that cannot narrow any decision:

- a doctor's share open counts itself (``UPDATE share SET opens = opens + 1, updated_at``; the first
  also sets ``first_opened_at``). An open session's access rests on the share's other columns
  (access/service.py ``live_share``: revoked, expired, the person, the studies, the reports); a used-up
  share refuses new opens by that same conditional UPDATE, not by a cached decision. Now only an update
  of a column other than those three counters moves the epoch — a new column is watched unless added
  to COUNTERS (tests/access/test_epoch.py updates each column).
- ingest inserts a study without its person and then links it (``UPDATE imaging_study SET person_id``
  from NULL): one bump per uploaded study. A study no person had was visible to no account or share,
  so linking it only widens access. Moving a study from one person to another still moves the epoch.

At 200 users both came every second or two, so the decision caches were rebuilt continuously.
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0021_epoch_counters'
down_revision: str | None = '0020_patients_reminders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = ("INSERT INTO access_epoch (id, value) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET value = access_epoch.value + 1")
COUNTERS = ("opens", "first_opened_at", "updated_at")
SHARE_COLUMNS = ("id", "person_id", "created_by_account_id", "token_digest", "code_hash", "scope", "date_from",
                 "date_to", "include_reports", "allow_download", "note_cipher", "expires_at", "max_opens", "opens",
                 "first_opened_at", "revoked_at", "created_at", "updated_at", "recipient", "token_cipher")
WATCHED_SHARE_COLUMNS = tuple(c for c in SHARE_COLUMNS if c not in COUNTERS)
SHARE_TRIGGER = "access_epoch_share_update"  # the names of 0012 (its tests look them up)
STUDY_TRIGGER = "access_epoch_imaging_study_update"


def _replace(*, share_columns: Sequence[str], study_linking_bumps: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    on = " ON share" if postgres else ""
    op.execute(f"DROP TRIGGER IF EXISTS {SHARE_TRIGGER}{on}")
    op.execute(f"DROP TRIGGER IF EXISTS {STUDY_TRIGGER}{' ON imaging_study' if postgres else ''}")
    share_event = "UPDATE" if not share_columns else f"UPDATE OF {', '.join(share_columns)}"
    linked = "" if study_linking_bumps else "OLD.person_id IS NOT NULL"
    if postgres:
        op.execute(f"CREATE TRIGGER {SHARE_TRIGGER} AFTER {share_event} ON share "
                   "FOR EACH STATEMENT EXECUTE FUNCTION access_epoch_bump()")
        if linked:  # a row trigger: a statement trigger cannot look at the old row
            op.execute(f"CREATE TRIGGER {STUDY_TRIGGER} AFTER UPDATE OF person_id ON imaging_study "
                       f"FOR EACH ROW WHEN ({linked}) EXECUTE FUNCTION access_epoch_bump()")
        else:
            op.execute(f"CREATE TRIGGER {STUDY_TRIGGER} AFTER UPDATE OF person_id ON imaging_study "
                       "FOR EACH STATEMENT EXECUTE FUNCTION access_epoch_bump()")
        return
    op.execute(f"CREATE TRIGGER {SHARE_TRIGGER} AFTER {share_event} ON share BEGIN {BUMP}; END")
    op.execute(f"CREATE TRIGGER {STUDY_TRIGGER} AFTER UPDATE OF person_id ON imaging_study "
               f"{f'WHEN {linked} ' if linked else ''}BEGIN {BUMP}; END")


def upgrade() -> None:
    _replace(share_columns=WATCHED_SHARE_COLUMNS, study_linking_bumps=False)


def downgrade() -> None:
    _replace(share_columns=(), study_linking_bumps=True)
