"""WeChat as the residents' main door (issue 22): a ticket shows that a message to its resident
was not delivered (ticket.undelivered) and that its text came from speech (ticket.spoken; while the report is
filled in, the conversation record's `filled` carries it); the reply to each WeChat callback is kept in the
database (wechatreply), so a retry reaching another server gets the same reply.

Revision ID: 0014_wechat
Revises: 0013_alerts
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_wechat'
down_revision = '0013_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('undelivered', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('ticket', sa.Column('spoken', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'wechatreply',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('chunks', sa.String(), nullable=False),
        sa.Column('delivery', sa.String(length=8), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index(op.f('ix_wechatreply_at'), 'wechatreply', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_wechatreply_at'), table_name='wechatreply')
    op.drop_table('wechatreply')
    with op.batch_alter_table('ticket') as batch:
        batch.drop_column('spoken')
        batch.drop_column('undelivered')
