"""Daily reminders (issue 14): rules, preferences, the outbox and runs.

Only new tables and columns, created when missing (a database made by create_all from these
models already has them).

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Preferences added to remindersubscription, each with a server default so older rows read well.
_PREFERENCES = [
    sa.Column('channels', sa.String(length=64), nullable=False, server_default=''),
    sa.Column('preferred_minute', sa.Integer(), nullable=False, server_default='540'),
    sa.Column('quiet_start_minute', sa.Integer(), nullable=False, server_default='1260'),
    sa.Column('quiet_end_minute', sa.Integer(), nullable=False, server_default='480'),
    sa.Column('family_phone', sa.String(length=20), nullable=False, server_default=''),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_channel', sa.String(length=16), nullable=False, server_default=''),
    sa.Column('updated_by', sa.String(length=64), nullable=False, server_default=''),
]


def upgrade() -> None:
    """Create what is missing: a database made by create_all from these models already has it all."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    present = {column['name'] for column in inspector.get_columns('remindersubscription')}
    missing = [column for column in _PREFERENCES if column.name not in present]
    if missing:
        with op.batch_alter_table('remindersubscription', schema=None) as batch_op:
            for column in missing:
                batch_op.add_column(column)

    if 'reminderrule' not in tables:
        op.create_table('reminderrule',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('threshold_fen', sa.Integer(), nullable=False),
        sa.Column('sms_text', sa.String(), nullable=False),
        sa.Column('spoken_text', sa.String(), nullable=False),
        sa.Column('family_text', sa.String(), nullable=False),
        sa.Column('kiosk_text', sa.String(), nullable=False),
        sa.Column('origin', sa.String(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )

    if 'remindermessage' not in tables:
        op.create_table('remindermessage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedup_key', sa.String(length=96), nullable=False),
        sa.Column('account_number', sa.String(length=10), nullable=False),
        sa.Column('rule_id', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('run_date', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=True),
        sa.Column('outage_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recipient', sa.String(length=32), nullable=False),
        sa.Column('text', sa.String(), nullable=False),
        sa.Column('last_error', sa.String(), nullable=False),
        sa.Column('shown_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedup_key')
        )
        with op.batch_alter_table('remindermessage', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_remindermessage_account_number'), ['account_number'], unique=False)
            batch_op.create_index(batch_op.f('ix_remindermessage_run_date'), ['run_date'], unique=False)
            batch_op.create_index('ix_remindermessage_status_next', ['status', 'next_attempt_at'], unique=False)

    if 'reminderrun' not in tables:
        op.create_table('reminderrun',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_date', sa.Date(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('reminderrun', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_reminderrun_run_date'), ['run_date'], unique=False)

    if 'reminderrunchunk' not in tables:
        op.create_table('reminderrunchunk',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('chunk_no', sa.Integer(), nullable=False),
        sa.Column('lo', sa.String(length=10), nullable=False),
        sa.Column('hi', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('due', sa.Integer(), nullable=False),
        sa.Column('queued', sa.Integer(), nullable=False),
        sa.Column('skipped_quiet', sa.Integer(), nullable=False),
        sa.Column('skipped_opt_out', sa.Integer(), nullable=False),
        sa.Column('already_sent', sa.Integer(), nullable=False),
        sa.Column('runner', sa.String(length=64), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['reminderrun.id'], ),
        sa.PrimaryKeyConstraint('run_id', 'chunk_no')
        )

    if 'reminderlock' not in tables:
        op.create_table('reminderlock',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=64), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name')
        )


def downgrade() -> None:
    for table in ('reminderlock', 'reminderrunchunk', 'reminderrun', 'remindermessage', 'reminderrule'):
        op.drop_table(table)
    with op.batch_alter_table('remindersubscription', schema=None) as batch_op:
        for column in _PREFERENCES:
            batch_op.drop_column(column.name)
