"""The console's management (issue 23): the administrators' change log, the neighbourhood
committees, the office's canned replies (edits over the files), the record of exports made, and
two indexes for the dashboard's workload per assignee.

Revision ID: 0019_admin
Revises: 0018_live
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019_admin'
down_revision = '0018_live'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'adminchange',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=128), nullable=False),
        sa.Column('what', sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_adminchange_at', 'adminchange', ['at'])
    op.create_index('ix_adminchange_kind', 'adminchange', ['kind'])
    op.create_table(
        'committee',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('places', sa.String(length=4096), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'cannedreply',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('title_zh', sa.String(length=64), nullable=False),
        sa.Column('title_en', sa.String(length=64), nullable=False),
        sa.Column('text', sa.String(length=2000), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'exportrecord',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('files', sa.String(length=4096), nullable=False),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('made_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_exportrecord_made_at', 'exportrecord', ['made_at'])
    op.create_index('ix_ticket_first_response_at', 'ticket', ['first_response_at'])
    op.create_index('ix_ticket_workload', 'ticket', ['status', 'assignee', 'first_response_at', 'response_due', 'resolution_due'])


def downgrade() -> None:
    op.drop_index('ix_ticket_workload', 'ticket')
    op.drop_index('ix_ticket_first_response_at', 'ticket')
    op.drop_table('exportrecord')
    op.drop_table('cannedreply')
    op.drop_table('committee')
    op.drop_table('adminchange')
