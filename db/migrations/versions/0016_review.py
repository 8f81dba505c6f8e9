"""Learning from use (issue 25): the messages staff review, the last answer of each resident,
and the model versions trained with staff's approved examples.

Revision ID: 0016_review
Revises: 0015_console
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016_review'
down_revision = '0015_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reviewitem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=4096), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('candidates', sa.String(length=1024), nullable=False),
    sa.Column('scores', sa.String(length=1024), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reply', sa.String(length=2048), nullable=False),
    sa.Column('picked', sa.String(length=64), nullable=True),
    sa.Column('followup', sa.String(length=4096), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('labelled_by', sa.String(length=64), nullable=True),
    sa.Column('labelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('batch', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reviewitem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reviewitem_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviewitem_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviewitem_batch'), ['batch'], unique=False)
        batch_op.create_index('ix_reviewitem_status_created_at', ['status', 'created_at'], unique=False)

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

    op.create_table('modelversion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('model_hash', sa.String(length=64), nullable=False),
    sa.Column('examples', sa.Integer(), nullable=False),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('report', sa.String(length=8192), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('modelversion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_modelversion_state'), ['state'], unique=False)


def downgrade() -> None:
    op.drop_table('modelversion')
    op.drop_table('recentanswer')
    op.drop_table('reviewitem')
