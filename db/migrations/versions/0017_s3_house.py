"""The outbox's state machine (issue 24): a message taken back before it went out is "cancelled"
(with its reason, "withdrawn" or "forgotten", in last_error) instead of "failed" with a sentence
to recognise it by. The state column is widened for the new name, and the rows taken back before
are converted.

Revision ID: 0017_s3_house
Revises: 0016_review
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017_s3_house'
down_revision = '0016_review'
branch_labels = None
depends_on = None

# what db/events.py and db/privacy.py wrote in last_error before
OLD = {"withdrawn": "withdrawn: the event was withdrawn before this notice went out",
       "forgotten": "resident asked to be forgotten"}


def upgrade() -> None:
    with op.batch_alter_table('outboxmessage') as batch_op:  # SQLite: a copy of the table
        batch_op.alter_column('state', existing_type=sa.String(length=8), type_=sa.String(length=16),
                              existing_nullable=False)
    for reason, sentence in OLD.items():
        op.execute(sa.text("UPDATE outboxmessage SET state = 'cancelled', last_error = :reason "
                           "WHERE state = 'failed' AND last_error = :sentence").bindparams(reason=reason, sentence=sentence))


def downgrade() -> None:
    for reason, sentence in OLD.items():
        op.execute(sa.text("UPDATE outboxmessage SET state = 'failed', last_error = :sentence "
                           "WHERE state = 'cancelled' AND last_error = :reason").bindparams(reason=reason, sentence=sentence))
    with op.batch_alter_table('outboxmessage') as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=16), type_=sa.String(length=8),
                              existing_nullable=False)
