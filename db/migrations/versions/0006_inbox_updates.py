"""The inbox: updates stored before they are acknowledged, deleted once handled (db/inbox.py).

Revision ID: 0006_inbox
Revises: 0005_console
Create Date: 2026-12-04 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_inbox'
down_revision = '0005_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inboxupdate',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('payload', sa.String(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_by', sa.String(length=32), nullable=False),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index(op.f('ix_inboxupdate_claimed_until'), 'inboxupdate', ['claimed_until'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inboxupdate_claimed_until'), table_name='inboxupdate')
    op.drop_table('inboxupdate')
