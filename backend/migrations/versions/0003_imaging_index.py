"""imaging index and MPI person links

Revision ID: 0003_imaging_index
Revises: 0002_institutions
Create Date: 2026-11-27 19:57:57.714984
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003_imaging_index'
down_revision: str | None = '0002_institutions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('imaging_study',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('study_instance_uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('matched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('local_patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('resident_id_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('patient_name', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('patient_sex', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
    sa.Column('patient_birth_date', sa.Date(), nullable=True),
    sa.Column('study_date', sa.Date(), nullable=True),
    sa.Column('study_datetime', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('accession_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('study_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('modalities', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('body_part', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('institution_name', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('referring_physician', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('acquired_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('first_received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('series_count', sa.Integer(), nullable=False),
    sa.Column('instance_count', sa.Integer(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'study_instance_uid', name='uq_study_institution_uid')
    )

    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_study_accession_number'), ['accession_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_first_received_at'), ['first_received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_local_patient_id'), ['local_patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_resident_id_index'), ['resident_id_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_study_date'), ['study_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_study_instance_uid'), ['study_instance_uid'], unique=False)

    op.create_table('person_link',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('local_patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'local_patient_id', name='uq_person_link_local_id')
    )

    with op.batch_alter_table('person_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_link_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_link_person_id'), ['person_id'], unique=False)

    op.create_table('imaging_series',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('study_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('series_instance_uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('modality', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('body_part', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('series_datetime', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('instance_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'series_instance_uid', name='uq_series_study_uid')
    )

    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_series_modality'), ['modality'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_series_series_instance_uid'), ['series_instance_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_series_study_id'), ['study_id'], unique=False)

    op.create_table('imaging_instance',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('study_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('series_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sop_instance_uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sop_class_uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('instance_number', sa.Integer(), nullable=True),
    sa.Column('image_position_patient', sa.JSON(), nullable=True),
    sa.Column('image_orientation_patient', sa.JSON(), nullable=True),
    sa.Column('slice_location', sa.Float(), nullable=True),
    sa.Column('slice_thickness', sa.Float(), nullable=True),
    sa.Column('pixel_spacing', sa.JSON(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('columns', sa.Integer(), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=True),
    sa.Column('samples_per_pixel', sa.Integer(), nullable=True),
    sa.Column('bits_allocated', sa.Integer(), nullable=True),
    sa.Column('bits_stored', sa.Integer(), nullable=True),
    sa.Column('pixel_representation', sa.Integer(), nullable=True),
    sa.Column('planar_configuration', sa.Integer(), nullable=True),
    sa.Column('photometric_interpretation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('window_center', sa.JSON(), nullable=True),
    sa.Column('window_width', sa.JSON(), nullable=True),
    sa.Column('rescale_slope', sa.Float(), nullable=True),
    sa.Column('rescale_intercept', sa.Float(), nullable=True),
    sa.Column('transfer_syntax_uid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('content_datetime', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('blob_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('pixel_data_offset', sa.BigInteger(), nullable=True),
    sa.Column('pixel_data_length', sa.BigInteger(), nullable=True),
    sa.Column('pixel_encapsulated', sa.Boolean(), nullable=False),
    sa.Column('pixel_fragments', sa.JSON(), nullable=True),
    sa.Column('pixel_basic_offsets', sa.JSON(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['series_id'], ['imaging_series.id'], ),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'sop_instance_uid', name='uq_instance_institution_uid')
    )

    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_instance_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_series_id'), ['series_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_sop_instance_uid'), ['sop_instance_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_study_id'), ['study_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_instance_study_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_sop_instance_uid'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_series_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_institution_id'))

    op.drop_table('imaging_instance')

    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_series_study_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_series_series_instance_uid'))
        batch_op.drop_index(batch_op.f('ix_imaging_series_modality'))

    op.drop_table('imaging_series')

    with op.batch_alter_table('person_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_link_person_id'))
        batch_op.drop_index(batch_op.f('ix_person_link_institution_id'))

    op.drop_table('person_link')

    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_study_study_instance_uid'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_study_date'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_resident_id_index'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_person_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_local_patient_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_institution_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_first_received_at'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_accession_number'))

    op.drop_table('imaging_study')
