"""The staff console v2 (issue 23): login attempts counted in one row per key (account and address,
and address), updated atomically before the password is checked, instead of a row per failure
(loginfailure, dropped); each account's team (科室) and
console language.

Revision ID: 0015_console
Revises: 0014_wechat
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_console'
down_revision = '0014_wechat'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'loginthrottle',
        sa.Column('key', sa.String(length=192), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.drop_table('loginfailure')
    op.add_column('staffaccount', sa.Column('team', sa.String(length=64), nullable=True))
    op.add_column('staffaccount', sa.Column('language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staffaccount') as batch:
        batch.drop_column('language')
        batch.drop_column('team')
    op.drop_table('loginthrottle')
    op.create_table(
        'loginfailure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_loginfailure_key'), 'loginfailure', ['key'], unique=False)
    op.create_index(op.f('ix_loginfailure_at'), 'loginfailure', ['at'], unique=False)
