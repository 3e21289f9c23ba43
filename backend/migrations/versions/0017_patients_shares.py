"""shares a patient can manage: a recipient label, the token kept as ciphertext to show the link again

Revision ID: 0017_patients_shares
Revises: 0016_realname
Create Date: 2026-12-06 08:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0017_patients_shares'
down_revision: str | None = '0016_realname'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('share', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('token_cipher', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('share', schema=None) as batch_op:
        batch_op.drop_column('token_cipher')
        batch_op.drop_column('recipient')
