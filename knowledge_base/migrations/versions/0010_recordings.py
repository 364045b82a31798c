"""Listening to a conversation (issue 15): the turn log names the recording of the customer's words,
kept in the table ``recording`` (WebM Opus bytes).

Only what is missing is created (a database made by create_all from these models already has it).

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    columns = {column['name'] for column in sa.inspect(op.get_bind()).get_columns('turnlog')}
    if 'recording' not in columns:
        with op.batch_alter_table('turnlog') as batch_op:
            batch_op.add_column(sa.Column('recording', sa.String(length=64), nullable=True))
    # The audio itself, in the database so that any worker on any machine can serve it.
    if 'recording' not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table('recording',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('sample_rate', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('audio', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('recording', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_recording_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_at'))
    op.drop_table('recording')
    with op.batch_alter_table('turnlog') as batch_op:
        batch_op.drop_column('recording')
