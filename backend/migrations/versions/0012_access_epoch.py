"""access: the access epoch and the triggers that bump it

Revision ID: 0012_access_epoch
Revises: 0011_family_live_pair
Create Date: 2026-11-27 23:20:00.000000

Why triggers (not application code): every write that can narrow an access decision must bump the
counter, whoever makes it; see backend/access/epoch.py. tests/access/test_epoch.py makes each
watched kind of write and checks that the counter moved (and that an unwatched one does not).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012_access_epoch'
down_revision: str | None = '0011_family_live_pair'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED: dict[str, tuple[str, ...]] = {
    "account": ("DELETE",),
    "binding": ("INSERT", "UPDATE", "DELETE"),
    "auth_session": ("UPDATE OF account_id, expires_at, revoked_at", "DELETE"),
    "family_grant": ("INSERT", "UPDATE", "DELETE"),
    "share": ("UPDATE", "DELETE"),
    "share_session": ("UPDATE", "DELETE"),
    "share_study": ("INSERT", "UPDATE", "DELETE"),
    "person": ("DELETE",),
    "imaging_study": ("UPDATE OF person_id", "DELETE"),
    "imaging_series": ("UPDATE OF study_id", "DELETE"),
    "imaging_instance": ("UPDATE", "DELETE"),
}
# An upsert, not a plain UPDATE: a missing row (a truncated table) must not silence the counter.
BUMP = ("INSERT INTO access_epoch (id, value) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET value = access_epoch.value + 1")


def _name(table: str, event: str) -> str:
    return f"access_epoch_{table}_{event.split()[0].lower()}"


def upgrade() -> None:
    op.create_table(
        'access_epoch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO access_epoch (id, value) VALUES (1, 0)")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f"CREATE FUNCTION access_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
    for table, events in WATCHED.items():
        for event in events:
            if postgres:  # once per statement: a bulk update bumps once
                op.execute(f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                           f"FOR EACH STATEMENT EXECUTE FUNCTION access_epoch_bump()")
            else:  # SQLite has row triggers only
                op.execute(f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                           f"BEGIN {BUMP}; END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, events in WATCHED.items():
        for event in events:
            op.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS access_epoch_bump()")
    op.drop_table('access_epoch')
