"""The phone line (issue 12): calls registered by the PBX and their outcomes.

Only new tables and columns, created when missing (a database made by create_all from these
models already has them).

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create what is missing: a database made by create_all from these models already has it."""
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if 'phonecall' not in tables:
        op.create_table('phonecall',
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('caller', sa.String(length=32), nullable=False),
        sa.Column('first_words', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next', sa.String(length=16), nullable=False),
        sa.Column('queue', sa.String(length=32), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('end_reason', sa.String(length=32), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('uuid')
        )
        with op.batch_alter_table('phonecall', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_phonecall_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('phonecall', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phonecall_created_at'))
    op.drop_table('phonecall')
