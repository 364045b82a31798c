"""Per-hall figures (issue 15): the hall a turn was said at, and the quality rollups by hall.

Only what is missing is created (a database made by create_all from these models already has it).

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    columns = {column['name'] for column in sa.inspect(op.get_bind()).get_columns('turnlog')}
    if 'hall' not in columns:
        with op.batch_alter_table('turnlog') as batch_op:
            batch_op.add_column(sa.Column('hall', sa.String(length=64), nullable=False, server_default=''))
    # FILL IN (owner of this file) below: anything else this part needs.


def downgrade() -> None:
    with op.batch_alter_table('turnlog') as batch_op:
        batch_op.drop_column('hall')
