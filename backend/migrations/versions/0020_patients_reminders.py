"""reminders: follow-up reminders as rows with a due date, so the daily notice job reads only due ones

Revision ID: 0020_patients_reminders
Revises: 0017_patients_grants
Create Date: 2026-12-06 11:30:00

The rows are derived from reports and studies (backend/reminders/service.py). The migration creates
the table empty; `yunying reminders rebuild` fills it from existing reports (run once after upgrading;
until then only follow-ups of studies or reports that arrive after the upgrade are announced).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0020_patients_reminders'
down_revision: str | None = '0017_patients_grants'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('followup_reminder',
    sa.Column('study_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('phrase', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('notified_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ),
    sa.PrimaryKeyConstraint('study_id')
    )
    with op.batch_alter_table('followup_reminder', schema=None) as batch_op:
        batch_op.create_index('ix_followup_reminder_due', ['due', 'study_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_followup_reminder_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followup_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_reminder_person_id'))
        batch_op.drop_index('ix_followup_reminder_due')
    op.drop_table('followup_reminder')
