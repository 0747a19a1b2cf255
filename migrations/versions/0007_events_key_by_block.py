"""events: the natural key led by block number; ix_events_chain_block dropped

Appends insert at the right edge of the key's index instead of a random leaf chosen by
the block hash; the key's (chain_id, block_number) prefix serves the range queries that
ix_events_chain_block served.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_KEY = 'uq_events_chain_id_block_hash_log_index_kind_incarnation'
NEW_KEY = 'uq_events_natural_key'


def upgrade() -> None:
    op.create_unique_constraint(
        NEW_KEY,
        'events',
        ['chain_id', 'block_number', 'block_hash', 'log_index', 'kind', 'incarnation'],
    )
    op.drop_constraint(OLD_KEY, 'events', type_='unique')
    op.drop_index('ix_events_chain_block', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_chain_block', 'events', ['chain_id', 'block_number'], unique=False)
    op.create_unique_constraint(
        OLD_KEY, 'events', ['chain_id', 'block_hash', 'log_index', 'kind', 'incarnation']
    )
    op.drop_constraint(NEW_KEY, 'events', type_='unique')
