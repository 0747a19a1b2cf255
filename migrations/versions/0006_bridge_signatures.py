"""bridge relayers' signatures

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bridge_signatures",
        sa.Column("message_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.LargeBinary(length=20), nullable=False),
        sa.Column("dest_chain_id", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column(
            "signed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("message_id", "signer", name=op.f("pk_bridge_signatures")),
    )


def downgrade() -> None:
    op.drop_table("bridge_signatures")
