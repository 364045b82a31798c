"""Trust: verification codes, the SMS outbox, account look-ups, kiosk devices, sandbox orders,
refund-needed payments, ticket clients and the first admin's forced password change.

Columns added to tables that already hold rows carry a server default, so an existing
database upgrades with its data.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:14:42.441261

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (in case a sqlmodel type is ever rendered as sqlmodel.sql.sqltypes.…)


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create what is missing: a database made by create_all from these models already has it all."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    def _missing_table(table: str) -> bool:
        return table not in tables

    def _missing_column(table: str, column: str, index: str | None = None) -> bool:
        if index is not None:
            return index not in {i["name"] for i in inspector.get_indexes(table)}
        return column not in {c["name"] for c in inspector.get_columns(table)}

    if _missing_table('accountlookup'):
        op.create_table('accountlookup',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('account_number', sa.String(length=10), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('accountlookup', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_accountlookup_at'), ['at'], unique=False)
            batch_op.create_index(batch_op.f('ix_accountlookup_client'), ['client'], unique=False)

    if _missing_table('kioskdevice'):
        op.create_table('kioskdevice',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('public_key', sa.String(), nullable=False),
        sa.Column('hall', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )

    if _missing_table('sandboxorder'):
        op.create_table('sandboxorder',
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('link_id', sa.String(length=32), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(), nullable=False),
        sa.Column('trade_no', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('notification', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('order_id'),
        sa.UniqueConstraint('link_id'),
        sa.UniqueConstraint('trade_no')
        )

    if _missing_table('smsmessage'):
        op.create_table('smsmessage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('text', sa.String(), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('account_number', sa.String(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('gateway', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('smsmessage', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_smsmessage_account_number'), ['account_number'], unique=False)
            batch_op.create_index(batch_op.f('ix_smsmessage_created_at'), ['created_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_smsmessage_phone'), ['phone'], unique=False)

    if _missing_table('verificationcode'):
        op.create_table('verificationcode',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('account_number', sa.String(), nullable=False),
        sa.Column('purpose', sa.String(), nullable=False),
        sa.Column('code_hash', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_number'], ['account.number'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('verificationcode', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_verificationcode_account_number'), ['account_number'], unique=False)
            batch_op.create_index(batch_op.f('ix_verificationcode_session_id'), ['session_id'], unique=False)

    if _missing_column('handoffticket', 'client'):
        op.add_column('handoffticket', sa.Column('client', sa.String(length=64), nullable=False, server_default=''))
    if _missing_column('handoffticket', 'client', index='ix_handoffticket_client'):
        op.create_index('ix_handoffticket_client', 'handoffticket', ['client'], unique=False)

    if _missing_column('payment', 'status'):
        op.add_column('payment', sa.Column('status', sa.String(), nullable=False, server_default='recorded'))
    if _missing_column('payment', 'refund_reason'):
        op.add_column('payment', sa.Column('refund_reason', sa.String(), nullable=False, server_default=''))
    if _missing_column('payment', 'status', index='ix_payment_status'):
        op.create_index('ix_payment_status', 'payment', ['status'], unique=False)

    if _missing_column('paymentlink', 'provider'):
        op.add_column('paymentlink', sa.Column('provider', sa.String(), nullable=False, server_default=''))
    if _missing_column('paymentlink', 'paying_at'):
        op.add_column('paymentlink', sa.Column('paying_at', sa.DateTime(timezone=True), nullable=True))

    if _missing_column('user_account', 'must_change_password'):
        op.add_column('user_account', sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')

    with op.batch_alter_table('paymentlink', schema=None) as batch_op:
        batch_op.drop_column('paying_at')
        batch_op.drop_column('provider')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_status'))
        batch_op.drop_column('refund_reason')
        batch_op.drop_column('status')

    with op.batch_alter_table('handoffticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoffticket_client'))
        batch_op.drop_column('client')

    with op.batch_alter_table('verificationcode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verificationcode_session_id'))
        batch_op.drop_index(batch_op.f('ix_verificationcode_account_number'))

    op.drop_table('verificationcode')
    with op.batch_alter_table('smsmessage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_smsmessage_phone'))
        batch_op.drop_index(batch_op.f('ix_smsmessage_created_at'))
        batch_op.drop_index(batch_op.f('ix_smsmessage_account_number'))

    op.drop_table('smsmessage')
    op.drop_table('sandboxorder')
    op.drop_table('kioskdevice')
    with op.batch_alter_table('accountlookup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accountlookup_client'))
        batch_op.drop_index(batch_op.f('ix_accountlookup_at'))

    op.drop_table('accountlookup')
