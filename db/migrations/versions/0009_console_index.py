"""Indexes of the staff console's queries (issue 13): the queue in deadline order, by category,
status and assignee; the counts by status and category; one category's opinions; the alerts.

Revision ID: 0009_console_index
Revises: 0008_events
"""
from __future__ import annotations

from alembic import op

revision = '0009_console_index'
down_revision = '0008_events'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_ticket_resolution_due_id', 'ticket', ['resolution_due', 'id']),
    ('ix_ticket_category_resolution_due', 'ticket', ['category', 'resolution_due']),
    ('ix_ticket_status_resolution_due', 'ticket', ['status', 'resolution_due']),
    ('ix_ticket_status_category', 'ticket', ['status', 'category']),
    ('ix_ticket_assignee', 'ticket', ['assignee']),
    ('ix_opinion_category_created_at', 'opinion', ['category', 'created_at']),
    ('ix_outboxmessage_purpose_created_at', 'outboxmessage', ['purpose', 'created_at']),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
