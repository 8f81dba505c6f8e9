"""Emergency alerts recorded whatever the channels, acknowledged in the console (issue 19).

Revision ID: 0013_alerts
Revises: 0012_conversation
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_alerts'
down_revision = '0012_conversation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('kinds', sa.String(length=128), nullable=False),
    sa.Column('text', sa.String(length=1024), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_acknowledged_at'), ['acknowledged_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_acknowledged_at'))
        batch_op.drop_index(batch_op.f('ix_alert_created_at'))
    op.drop_table('alert')
