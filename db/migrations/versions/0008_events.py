"""Events the office announces, residents' subscriptions to them, and one notice per event and
resident (issue 15).

Revision ID: 0008_events
Revises: 0007_files
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_events'
down_revision = '0007_files'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title_zh', sa.String(length=256), nullable=False),
    sa.Column('title_en', sa.String(length=256), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('place', sa.String(length=256), nullable=False),
    sa.Column('details', sa.String(length=2048), nullable=False),
    sa.Column('how', sa.String(length=1024), nullable=False),
    sa.Column('show_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('draft_step', sa.String(length=16), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_topic'), ['topic'], unique=False)

    op.create_table('subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resident_id', 'topic')
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_topic'), ['topic'], unique=False)

    op.create_table('notice',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outboxmessage.id'], ),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'resident_id')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_outbox_id'), ['outbox_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_outbox_id'))

    op.drop_table('notice')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_topic'))
        batch_op.drop_index(batch_op.f('ix_subscription_resident_id'))

    op.drop_table('subscription')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_topic'))
        batch_op.drop_index(batch_op.f('ix_event_status'))
        batch_op.drop_index(batch_op.f('ix_event_published_at'))

    op.drop_table('event')
