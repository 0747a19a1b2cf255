"""event row format version

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting a row (and without
    # firing the append-only trigger). Every existing row is format 1 (indexer/row.py).
    op.add_column(
        "events",
        sa.Column(
            "format",
            sa.SmallInteger(),
            server_default=sa.text("1"),
            nullable=False,
            comment="row format: how hash was computed (indexer.events.CANONICAL_ENCODINGS)",
        ),
    )


def downgrade() -> None:
    op.drop_column("events", "format")
