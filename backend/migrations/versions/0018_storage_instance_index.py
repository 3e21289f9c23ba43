"""imaging_instance: what each row holds is what queries need (issue 17)

* ``blob_key`` goes: it was always ``dicom/<sha[:2]>/<sha[2:4]>/<sha>`` of the row's own ``sha256``
  (storage/keys.py), now a property of the model — 77 bytes a row, the widest column. The upgrade
  refuses to run if any row says otherwise.
* The index on ``institution_id`` alone goes: the unique index on (institution_id, sop_instance_uid)
  leads with it, so PostgreSQL and SQLite answer every lookup by institution from that one.

Revision ID: 0018_storage_instance_index
Revises: 0019_jobs_outbox
Create Date: 2026-12-06 08:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018_storage_instance_index'
down_revision: str | None = '0019_jobs_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ODD = ("SELECT count(*) FROM imaging_instance "
       "WHERE blob_key <> 'dicom/' || substr(sha256, 1, 2) || '/' || substr(sha256, 3, 2) || '/' || sha256")
FILL = ("UPDATE imaging_instance "
        "SET blob_key = 'dicom/' || substr(sha256, 1, 2) || '/' || substr(sha256, 3, 2) || '/' || sha256")


def upgrade() -> None:
    odd = op.get_bind().execute(sa.text(ODD)).scalar()
    if odd:
        raise RuntimeError(f"{odd} instance rows have a blob_key that is not their content address; not dropped")
    op.drop_index('ix_imaging_instance_institution_id', table_name='imaging_instance')
    # Plain ALTER TABLE (PostgreSQL; SQLite ≥ 3.35): no table copy, the access-epoch triggers stay.
    op.execute("ALTER TABLE imaging_instance DROP COLUMN blob_key")


def downgrade() -> None:
    op.add_column('imaging_instance', sa.Column('blob_key', sa.String(length=128), nullable=True))
    op.execute(FILL)
    op.create_index('ix_imaging_instance_institution_id', 'imaging_instance', ['institution_id'], unique=False)
