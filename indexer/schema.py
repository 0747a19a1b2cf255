"""Tables of the event store and of the indexer's own bookkeeping.

``events`` is append-only: rows are never updated or deleted (a reorg appends
``retract`` rows). ``indexed_blocks`` and ``cursors`` are the indexer's working state and
``dead_letters`` records logs that could not be decoded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Base, Bytes32

KIND_LOG = "log"
KIND_RETRACT = "retract"


class EventRow(Base):
    """One appended entry: a decoded log, or the retraction of an earlier one."""

    __tablename__ = "events"

    # Gap-free, strictly increasing; assigned under the append lock (see store.py).
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(8))
    # How many times this (chain, block, log) was appended before: a block that is
    # orphaned and later becomes canonical again is appended anew, never edited.
    incarnation: Mapped[int] = mapped_column(SmallInteger)
    block_number: Mapped[int]
    block_hash: Mapped[Bytes32]
    parent_hash: Mapped[Bytes32]
    block_timestamp: Mapped[int] = mapped_column(BigInteger, comment="unix seconds")
    tx_hash: Mapped[Bytes32]
    tx_index: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer)
    address: Mapped[AddressBytes]
    event_name: Mapped[str] = mapped_column(Text)
    args: Mapped[dict[str, Any]]
    retracts: Mapped[int | None] = mapped_column(BigInteger, comment="position retracted")
    # sha256(previous row's hash || canonical encoding of this row): tamper evidence.
    hash: Mapped[Bytes32]
    # Which canonical encoding `hash` used (indexer/row.py); every row so far is format 1.
    format: Mapped[int] = mapped_column(
        SmallInteger,
        server_default=text("1"),
        comment="row format: how hash was computed (indexer.events.CANONICAL_ENCODINGS)",
    )

    __table_args__ = (
        # The natural key, led by the block number: an append then inserts at the right
        # edge of this index, not on a random leaf chosen by the block hash (which cost
        # the COPY ~0.13 s of server CPU per 100k events and, once the index outgrew
        # shared_buffers, ~20% of the append rate at 10M events). It also serves the
        # (chain_id, block_number) range queries, so no separate index is kept for them.
        # block_hash determines block_number, so the key is as unique as without it.
        UniqueConstraint(
            "chain_id",
            "block_number",
            "block_hash",
            "log_index",
            "kind",
            "incarnation",
            name="uq_events_natural_key",
        ),
        CheckConstraint("kind IN ('log', 'retract')", name="kind"),
        CheckConstraint("(kind = 'retract') = (retracts IS NOT NULL)", name="retract_target"),
        # Finds whether (and by which entry) a log was retracted.
        Index("ix_events_retracts", "retracts", postgresql_where=text("retracts IS NOT NULL")),
    )


class IndexedBlock(Base):
    """A block the indexer holds as canonical (recent window and every block with events)."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[Bytes32]
    parent_hash: Mapped[Bytes32]
    timestamp: Mapped[int] = mapped_column(BigInteger)
    finalized: Mapped[bool]


class Cursor(Base):
    """Where one chain's indexer stands; committed with the events it covers."""

    __tablename__ = "cursors"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int]
    block_hash: Mapped[Bytes32]
    finalized_number: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeadLetter(Base):
    """A log that matched our addresses but could not be decoded, with the reason."""

    __tablename__ = "dead_letters"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int]
    tx_hash: Mapped[Bytes32]
    address: Mapped[AddressBytes]
    topics: Mapped[list[str]] = mapped_column(JSONB)
    data: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OutboxDispatch(Base):
    """Outbox rows already handed to the broker (operational state, kept across replays)."""

    __tablename__ = "outbox_dispatch"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    dispatched_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BridgeSignature(Base):
    """A bridge relayer's EIP-712 signature of one message (operational state: relayers
    collect each other's signatures here until a message has its threshold; kept across
    replays, re-checked against the destination's relayer set before use)."""

    __tablename__ = "bridge_signatures"

    message_id: Mapped[Bytes32] = mapped_column(primary_key=True)
    signer: Mapped[AddressBytes] = mapped_column(primary_key=True)
    dest_chain_id: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(server_default=func.now())
