"""Opinions marked read or answered by staff, theme by theme, in the console (issue 13).

Revision ID: 0010_opinion_marks
Revises: 0009_console_index
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_opinion_marks'
down_revision = '0009_console_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('opinion', sa.Column('handled', sa.String(length=16), nullable=True))
    op.add_column('opinion', sa.Column('handled_by', sa.String(length=64), nullable=True))
    op.add_column('opinion', sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('opinion') as batch:  # SQLite before 3.35 cannot drop a column in place
        batch.drop_column('handled_at')
        batch.drop_column('handled_by')
        batch.drop_column('handled')
