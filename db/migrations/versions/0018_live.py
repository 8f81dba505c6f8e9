"""The console's change feed (issue 23): a counter raised by every change of a ticket or an alert,
and the changes by number, which open console pages ask for ("changes since N").

Revision ID: 0018_live
Revises: 0016_review
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018_live'
down_revision = '0017_s3_house'
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = op.create_table('livecounter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(counter, [{'id': 1, 'last': 0}])
    op.create_table('livechange',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('livechange', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_livechange_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_livechange_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('livechange', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_livechange_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_livechange_at'))
    op.drop_table('livechange')
    op.drop_table('livecounter')
