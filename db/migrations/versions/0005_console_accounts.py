"""The staff web console: accounts, server-side sessions, failed logins (issue 13).

Revision ID: 0005_console
Revises: 0004_privacy
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_console'
down_revision = '0004_privacy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staffaccount',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('is_admin', sa.Boolean(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('telegram_user_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'staffsession',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['staffaccount.id']),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index(op.f('ix_staffsession_account_id'), 'staffsession', ['account_id'], unique=False)
    op.create_index(op.f('ix_staffsession_expires_at'), 'staffsession', ['expires_at'], unique=False)
    op.create_table(
        'loginfailure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_loginfailure_key'), 'loginfailure', ['key'], unique=False)
    op.create_index(op.f('ix_loginfailure_at'), 'loginfailure', ['at'], unique=False)


def downgrade() -> None:
    op.drop_table('loginfailure')
    op.drop_table('staffsession')
    op.drop_table('staffaccount')
