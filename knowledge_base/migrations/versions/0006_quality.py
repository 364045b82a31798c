"""Quality review (issue 15): the turn log's rollups, review samples and marks, rectification items.

Only new tables, created when missing (a database made by create_all from these models already
has them).

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TABLES = ('turnmark', 'reviewsample', 'rectification', 'qualityutterance', 'qualityconversation', 'qualityday',
           'qualitycursor')


def upgrade() -> None:
    """Create what is missing: a database made by create_all from these models already has it all."""
    tables = set(sa.inspect(op.get_bind()).get_table_names())

    if 'qualitycursor' not in tables:
        op.create_table('qualitycursor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_turn_id', sa.Integer(), nullable=False),
        sa.Column('last_rating_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
    # The one cursor row every worker moves by compare-and-set.
    cursor = sa.table('qualitycursor', sa.column('id', sa.Integer()), sa.column('last_turn_id', sa.Integer()),
                      sa.column('last_rating_id', sa.Integer()))
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(cursor)).scalar_one() == 0:
        op.bulk_insert(cursor, [{'id': 1, 'last_turn_id': 0, 'last_rating_id': 0}])

    if 'qualityday' not in tables:
        op.create_table('qualityday',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
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
        sa.PrimaryKeyConstraint('day', 'channel')
        )

    if 'qualityconversation' not in tables:
        op.create_table('qualityconversation',
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('account_number', sa.String(), nullable=True),
        sa.Column('turns', sa.Integer(), nullable=False),
        sa.Column('answered_turns', sa.Integer(), nullable=False),
        sa.Column('main_intent', sa.String(), nullable=False),
        sa.Column('min_confidence', sa.Float(), nullable=False),
        sa.Column('handoff_reason', sa.String(), nullable=True),
        sa.Column('emergency', sa.Boolean(), nullable=False),
        sa.Column('fraud', sa.Boolean(), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_text', sa.String(), nullable=False),
        sa.Column('last_intent', sa.String(), nullable=False),
        sa.Column('last_decision', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('session_id')
        )
        op.create_index('ix_qualityconversation_day', 'qualityconversation', ['day'], unique=False)

    if 'qualityutterance' not in tables:
        op.create_table('qualityutterance',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('text', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('example', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'text', 'reason')
        )
        op.create_index('ix_qualityutterance_text_day', 'qualityutterance', ['text', 'day', 'reason', 'count'],
                        unique=False)

    if 'reviewsample' not in tables:
        op.create_table('reviewsample',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('picked_for', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('reviewer', sa.String(), nullable=False),
        sa.Column('attitude', sa.Integer(), nullable=True),
        sa.Column('clarity', sa.Integer(), nullable=True),
        sa.Column('need_discovered', sa.Integer(), nullable=True),
        sa.Column('comment', sa.String(), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('day', 'session_id')
        )
        op.create_index('ix_reviewsample_day', 'reviewsample', ['day'], unique=False)

    if 'turnmark' not in tables:
        op.create_table('turnmark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sample_id', sa.Integer(), nullable=False),
        sa.Column('turn_id', sa.Integer(), nullable=False),
        sa.Column('correct', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('reviewer', sa.String(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sample_id'], ['reviewsample.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sample_id', 'turn_id')
        )
        op.create_index('ix_turnmark_sample_id', 'turnmark', ['sample_id'], unique=False)

    if 'rectification' not in tables:
        op.create_table('rectification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('source', sa.String(), nullable=False),
        sa.Column('utterances', sa.JSON(), nullable=False),
        sa.Column('note', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        op.create_index('ix_rectification_status', 'rectification', ['status'], unique=False)


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
