"""what a relative sees, per study: studies the person hid from one grant

Revision ID: 0017_patients_grants
Revises: 0018_storage_instance_index
Create Date: 2026-12-06 08:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_patients_grants'
down_revision: str | None = '0018_storage_instance_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('family_grant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hidden_refs', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('family_grant', schema=None) as batch_op:
        batch_op.drop_column('hidden_refs')
