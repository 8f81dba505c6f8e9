"""No phone remembered per resident: consent is per report.

A phone is given, with consent, for one report and kept on that ticket only (issue 12, item 6).
Dropping the column also erases the numbers earlier versions remembered.

Plain drop_column: SQLite (3.35+) drops a column that is in no index or key in place; a batch
copy of the table would have to drop `resident`, which other tables' foreign keys refer to.

Revision ID: 0004_privacy
Revises: 0003_wechat
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_privacy'
down_revision = '0003_wechat'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column('resident', 'phone')


def downgrade() -> None:
    op.add_column('resident', sa.Column('phone', sa.String(length=32), nullable=True))
