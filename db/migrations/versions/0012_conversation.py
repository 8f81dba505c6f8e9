"""One conversation record per (channel, chat, user) (issue 20): the dialog and step, what is
filled, the last answered topic, the language. It takes over the half-filled reports (intake)
and what the bot was waiting for from a resident (resident.awaiting), which are moved into it.

Revision ID: 0012_conversation
Revises: 0011_ticket_area
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0012_conversation'
down_revision = '0011_ticket_area'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conversation = op.create_table(
        'conversation',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('chat_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('dialog', sa.String(length=16), nullable=True),
        sa.Column('step', sa.String(length=16), nullable=True),
        sa.Column('filled', sa.String(length=8192), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=True),
        sa.Column('topic_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('language', sa.String(length=2), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('channel', 'chat_id', 'user_id'),
    )
    op.create_index('ix_conversation_updated_at', 'conversation', ['updated_at'], unique=False)
    connection = op.get_bind()
    resident = sa.table('resident', sa.column('id', sa.Integer), sa.column('channel', sa.String),
                        sa.column('user_id', sa.String), sa.column('language', sa.String),
                        sa.column('awaiting', sa.String))
    intake = sa.table('intake', *(sa.column(name) for name in (
        'resident_id', 'step', 'text', 'place', 'latitude', 'longitude', 'photos', 'phone', 'started_at')))
    rows = {}
    now = sa.func.current_timestamp()
    for r in connection.execute(sa.select(resident).where(resident.c.awaiting.is_not(None))).all():
        kind, _, ticket = r.awaiting.partition(":")
        dialog, step = {"message": ("message", "text"), "comment": ("rating", "comment"),
                        "followup": ("followup", "text")}.get(kind, (None, None))
        if dialog:  # a private chat's id is its user's (Telegram, WeChat, the console)
            rows[r.id] = dict(channel=r.channel, chat_id=r.user_id, user_id=r.user_id, dialog=dialog,
                              step=step, filled=json.dumps({"ticket": int(ticket)} if ticket.isdigit() else {}))
    for i in connection.execute(sa.select(intake, resident.c.channel, resident.c.user_id)
                                .join(resident, resident.c.id == intake.c.resident_id)).all():
        report = {"text": i.text, "place": i.place, "photos": json.loads(i.photos or "[]"), "latitude": i.latitude,
                  "longitude": i.longitude, "phone": i.phone, "started": str(i.started_at)}
        rows[i.resident_id] = dict(channel=i.channel, chat_id=i.user_id, user_id=i.user_id, dialog="complaint",
                                   step=i.step, filled=json.dumps(report, ensure_ascii=False))
    for row in rows.values():
        connection.execute(conversation.insert().values(**row, updated_at=now))
    op.drop_table('intake')
    # plain drop_column, as 0004: SQLite (3.35+) drops a column in no index or key in place; a batch
    # would copy the resident table, which the other tables' references forbid
    op.drop_column('resident', 'awaiting')


def downgrade() -> None:
    op.add_column('resident', sa.Column('awaiting', sa.String(length=32), nullable=True))
    op.create_table(
        'intake',
        sa.Column('resident_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.String(length=16), nullable=False),
        sa.Column('text', sa.String(length=4096), nullable=False),
        sa.Column('place', sa.String(length=512), nullable=False),
        sa.Column('latitude', sa.Float(), nullable=True),
        sa.Column('longitude', sa.Float(), nullable=True),
        sa.Column('photos', sa.String(length=4096), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['resident_id'], ['resident.id']),
        sa.PrimaryKeyConstraint('resident_id'),
    )
    op.drop_index('ix_conversation_updated_at', table_name='conversation')
    op.drop_table('conversation')
