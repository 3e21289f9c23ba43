"""jobs: the transactional outbox replaces the pre-render queue and the notification poller

Revision ID: 0019_jobs_outbox
Revises: 0017_patients_shares
Create Date: 2026-12-06 08:10:00

Waiting pre-render rows become `prerender` jobs, and every pending notification gets its `notify` job,
so nothing queued before the upgrade is dropped.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0019_jobs_outbox'
down_revision: str | None = '0017_patients_shares'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_outbox',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'key', name='uq_job_outbox_kind_key')
    )
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_outbox_due_at'), ['due_at'], unique=False)
    # The ids of carried-over rows are their series / notification ids (32 hex characters, unique).
    op.execute("INSERT INTO job_outbox (id, kind, key, generation, due_at, attempts, created_at) "
               "SELECT series_id, 'prerender', series_id, 1, enqueued_at, 0, enqueued_at FROM preview_pending")
    op.execute("INSERT INTO job_outbox (id, kind, key, generation, due_at, attempts, created_at) "
               "SELECT id, 'notify', id, 1, next_attempt_at, 0, created_at FROM notification WHERE status = 'pending'")
    with op.batch_alter_table('preview_pending', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preview_pending_enqueued_at'))
    op.drop_table('preview_pending')


def downgrade() -> None:
    op.create_table('preview_pending',
    sa.Column('series_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('enqueued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['series_id'], ['imaging_series.id'], ),
    sa.PrimaryKeyConstraint('series_id')
    )
    with op.batch_alter_table('preview_pending', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preview_pending_enqueued_at'), ['enqueued_at'], unique=False)
    op.execute("INSERT INTO preview_pending (series_id, generation, enqueued_at, attempts) "
               "SELECT key, 1, due_at, 0 FROM job_outbox WHERE kind = 'prerender'")
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_outbox_due_at'))
    op.drop_table('job_outbox')
