"""Scale-out: what several workers share through the database: conversation sessions, card-read
nonces, spoken texts by their speech id, and the knowledge base's version.

Only new tables, created when missing (a database made by create_all from these models has them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:02:25.968447

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (in case a sqlmodel type is ever rendered as sqlmodel.sql.sqltypes.…)


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create what is missing: a database made by create_all from these models already has it all."""
    tables = set(sa.inspect(op.get_bind()).get_table_names())

    if 'cardreadnonce' not in tables:
        op.create_table('cardreadnonce',
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key')
        )
        with op.batch_alter_table('cardreadnonce', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_cardreadnonce_seen_at'), ['seen_at'], unique=False)

    if 'conversationsession' not in tables:
        op.create_table('conversationsession',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('conversationsession', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_conversationsession_updated_at'), ['updated_at'], unique=False)

    if 'knowledgeversion' not in tables:
        op.create_table('knowledgeversion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
    # The one row every worker reads; bumped by every change of the knowledge base.
    versions = sa.table('knowledgeversion', sa.column('id', sa.Integer()), sa.column('version', sa.Integer()))
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(versions)).scalar_one() == 0:
        op.bulk_insert(versions, [{'id': 1, 'version': 1}])

    if 'spokentext' not in tables:
        op.create_table('spokentext',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('spoken', sa.String(), nullable=False),
        sa.Column('voice_rate', sa.Integer(), nullable=False),
        sa.Column('voice_volume', sa.Float(), nullable=False),
        sa.Column('sample_rate', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )


def downgrade() -> None:
    op.drop_table('spokentext')
    op.drop_table('knowledgeversion')
    with op.batch_alter_table('conversationsession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversationsession_updated_at'))

    op.drop_table('conversationsession')
    with op.batch_alter_table('cardreadnonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cardreadnonce_seen_at'))

    op.drop_table('cardreadnonce')
