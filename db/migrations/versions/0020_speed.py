"""One record of a resident's last answer: the conversation record keeps what staff's review
needs of it (the question, masked, the model's best scores, the reply) beside the topic and time
it already kept for follow-ups; the review loop's own table (recentanswer) is dropped, and with it
a write per question. Its rows lived a minute's use and a day at most: they are not carried over.

Revision ID: 0020_speed
Revises: 0019_admin
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020_speed'
down_revision = '0019_admin'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered', sa.String(length=8192), nullable=True))
    op.drop_table('recentanswer')


def downgrade() -> None:
    op.create_table('recentanswer',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.String(length=4096), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('scores', sa.String(length=1024), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reply', sa.String(length=2048), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'user_id')
    )
    with op.batch_alter_table('recentanswer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recentanswer_at'), ['at'], unique=False)
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('answered')
