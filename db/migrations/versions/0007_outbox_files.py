"""Export files kept in the database, not as paths on the host that made them (issue 12, item 13):
any process sharing the database can send them.

Revision ID: 0007_files
Revises: 0006_inbox
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_files'
down_revision = '0006_inbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outboxfile',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_outboxfile_created_at'), 'outboxfile', ['created_at'], unique=False)
    # SQLite cannot add a reference to a table in place: batch mode copies outboxmessage (no other
    # table refers to it)
    with op.batch_alter_table('outboxmessage') as batch:
        batch.add_column(sa.Column('document_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_outboxmessage_document_id', 'outboxfile', ['document_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outboxmessage') as batch:
        batch.drop_constraint('fk_outboxmessage_document_id', type_='foreignkey')
        batch.drop_column('document_id')
    op.drop_index(op.f('ix_outboxfile_created_at'), table_name='outboxfile')
    op.drop_table('outboxfile')
