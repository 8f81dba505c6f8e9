"""The ticket's area (lane, estate or road of its place) for the console's place filter (issue 13),
filled in for the tickets already there by the same rule new tickets get (handlers/rules/places.py area_of).

Revision ID: 0011_ticket_area
Revises: 0010_opinion_marks
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_ticket_area'
down_revision = '0010_opinion_marks'
branch_labels = None
depends_on = None
BATCH = 5000


def upgrade() -> None:
    from handlers.rules.places import area_of  # the rule itself, not a copy that could drift from it

    op.add_column('ticket', sa.Column('area', sa.String(length=64), nullable=False, server_default=''))
    ticket = sa.table('ticket', sa.column('id', sa.Integer), sa.column('place', sa.String), sa.column('area', sa.String))
    connection = op.get_bind()
    last = 0
    while rows := connection.execute(sa.select(ticket.c.id, ticket.c.place).where(ticket.c.id > last)
                                     .order_by(ticket.c.id).limit(BATCH)).all():
        changes = [{"key": id_, "value": area_of(place or "")} for id_, place in rows]
        changes = [c for c in changes if c["value"]]
        if changes:
            connection.execute(ticket.update().where(ticket.c.id == sa.bindparam("key"))
                               .values(area=sa.bindparam("value")), changes)
        last = rows[-1][0]
    op.create_index('ix_ticket_area_status', 'ticket', ['area', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_area_status', table_name='ticket')
    with op.batch_alter_table('ticket') as batch:  # SQLite before 3.35 cannot drop a column in place
        batch.drop_column('area')
