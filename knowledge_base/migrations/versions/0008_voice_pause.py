"""The voice's pause between sentences travels with a speech id, so a slower voice (说慢点) also
pauses longer in audio fetched by URL.

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the column when missing (a database made by create_all from these models has it)."""
    columns = {column['name'] for column in sa.inspect(op.get_bind()).get_columns('spokentext')}
    if 'voice_pause_ms' not in columns:
        with op.batch_alter_table('spokentext') as batch_op:
            batch_op.add_column(sa.Column('voice_pause_ms', sa.Integer(), nullable=False, server_default='400'))


def downgrade() -> None:
    with op.batch_alter_table('spokentext') as batch_op:
        batch_op.drop_column('voice_pause_ms')
