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
    # The quality rollups by hall: the day's figures are keyed by day, channel and hall; what was counted
    # before this revision stays under hall "" (it was not recorded).
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    def hall() -> sa.Column:
        return sa.Column('hall', sa.String(length=64), nullable=False, server_default='')

    if 'qualityday' in tables and 'hall' not in {c['name'] for c in inspector.get_columns('qualityday')}:
        if op.get_bind().dialect.name == 'sqlite':  # SQLite cannot change a primary key: the table is copied
            _copy_qualityday(hall(), ['day', 'channel', 'hall'])
        else:
            name = inspector.get_pk_constraint('qualityday').get('name') or 'qualityday_pkey'
            op.add_column('qualityday', hall())
            op.drop_constraint(name, 'qualityday', type_='primary')
            op.create_primary_key(name, 'qualityday', ['day', 'channel', 'hall'])
    if 'qualityconversation' in tables and \
            'hall' not in {c['name'] for c in inspector.get_columns('qualityconversation')}:
        with op.batch_alter_table('qualityconversation') as batch_op:
            batch_op.add_column(hall())
    if 'qualitycursor' in tables and 'binds' not in {c['name'] for c in inspector.get_columns('qualitycursor')}:
        with op.batch_alter_table('qualitycursor') as batch_op:
            batch_op.add_column(sa.Column('binds', sa.Integer(), nullable=False, server_default='0'))


def _copy_qualityday(hall: sa.Column | None, key: list[str]) -> None:
    """SQLite: qualityday made anew with ``key`` as its primary key (with the hall column, or without it when
    ``hall`` is None), its rows copied (under hall "")."""
    figures = ['turns', 'none_turns', 'confirm_turns', 'emergencies', 'frauds', 'asr_turns', 'asr_confidence_sum',
               'low_confidence_turns', 'latency_buckets', 'conversations', 'resolved', 'handoffs', 'ratings']
    op.create_table('_qualityday_new',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    *([hall] if hall is not None else []),
    sa.Column('turns', sa.Integer(), nullable=False),
    sa.Column('none_turns', sa.Integer(), nullable=False),
    sa.Column('confirm_turns', sa.Integer(), nullable=False),
    sa.Column('emergencies', sa.Integer(), nullable=False),
    sa.Column('frauds', sa.Integer(), nullable=False),
    sa.Column('asr_turns', sa.Integer(), nullable=False),
    sa.Column('asr_confidence_sum', sa.Float(), nullable=False),
    sa.Column('low_confidence_turns', sa.Integer(), nullable=False),
    sa.Column('latency_buckets', sa.JSON(), nullable=False),
    sa.Column('conversations', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('handoffs', sa.JSON(), nullable=False),
    sa.Column('ratings', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint(*key)
    )
    names = ', '.join(['day', 'channel', *figures])
    op.execute(f'INSERT INTO _qualityday_new ({names}) SELECT {names} FROM qualityday')
    op.drop_table('qualityday')
    op.rename_table('_qualityday_new', 'qualityday')


def downgrade() -> None:
    # Back to one row per day and channel: the halls' rows go (their figures are lost on downgrade).
    op.execute("DELETE FROM qualityday WHERE hall <> ''")
    with op.batch_alter_table('qualitycursor') as batch_op:
        batch_op.drop_column('binds')
    with op.batch_alter_table('qualityconversation') as batch_op:
        batch_op.drop_column('hall')
    if op.get_bind().dialect.name == 'sqlite':
        _copy_qualityday(None, ['day', 'channel'])
    else:
        name = sa.inspect(op.get_bind()).get_pk_constraint('qualityday').get('name') or 'qualityday_pkey'
        op.drop_constraint(name, 'qualityday', type_='primary')
        op.drop_column('qualityday', 'hall')
        op.create_primary_key(name, 'qualityday', ['day', 'channel'])
    with op.batch_alter_table('turnlog') as batch_op:
        batch_op.drop_column('hall')
