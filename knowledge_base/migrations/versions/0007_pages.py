"""Pages (issue 13): what the kiosk, pay, staff and admin pages need stored.

Only new tables and columns, created when missing (a database made by create_all from these
models already has them).

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # FILL IN (owner of this file): create what is missing, as 0003_scale_out.py does.
    tables = set(sa.inspect(op.get_bind()).get_table_names())

    # --- device (issue 13): the kiosk screen the device loop drives; fresh pay-link requests
    if 'kioskscreen' not in tables:
        op.create_table('kioskscreen',
        sa.Column('device', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('device')
        )
    if 'paylinkrequest' not in tables:
        op.create_table('paylinkrequest',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('account_number', sa.String(length=10), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('paylinkrequest', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_paylinkrequest_client'), ['client'], unique=False)
            batch_op.create_index(batch_op.f('ix_paylinkrequest_account_number'), ['account_number'], unique=False)
            batch_op.create_index(batch_op.f('ix_paylinkrequest_at'), ['at'], unique=False)
    # --- end device

    # --- staffadmin (issue 13): where a handoff came from, shown on the staff card
    ticket_columns = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('handoffticket')}
    if 'origin' not in ticket_columns:
        op.add_column('handoffticket', sa.Column('origin', sa.String(length=120), nullable=False, server_default=''))
    # --- end staffadmin


def downgrade() -> None:
    # --- device (issue 13)
    with op.batch_alter_table('paylinkrequest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paylinkrequest_at'))
        batch_op.drop_index(batch_op.f('ix_paylinkrequest_account_number'))
        batch_op.drop_index(batch_op.f('ix_paylinkrequest_client'))
    op.drop_table('paylinkrequest')
    op.drop_table('kioskscreen')
    # --- end device
