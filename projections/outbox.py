"""The outbox: one row per side effect workers must perform, written in the same
transaction as the projections' tracking. The dispatcher sends a row once its block is
final; its natural key makes the send idempotent.

A row holds nothing but the canonical chain's (no event-store position): a projector that
lived through reorgs and one that indexed the final chain from scratch hold the same rows.
The dispatcher sends them in chain order, by ``(block_number, log_index)``."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import BigInteger, Integer, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Bytes32
from contracts.events import TrainingRequested
from indexer.events import Fact
from projections.base import Key, LogProjection, ReadModelBase, Row, event_names

RUN_TRAINING = "run_training"


class OutboxRow(ReadModelBase):
    """A side effect owed for one on-chain event."""

    __tablename__ = "outbox"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    block_number: Mapped[int] = mapped_column(BigInteger)


class Outbox(LogProjection):
    """TrainingRequested -> run training. (A purchase owes no side effect: downloads check
    access in the chain-derived grants, ``projections.purchases.AccessGrantRow``.)"""

    name = "outbox"
    table: ClassVar[Table] = OutboxRow.__table__  # type: ignore[assignment]
    events = event_names(TrainingRequested)
    cost = 1.5  # a JSON payload per row

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case TrainingRequested() as event:
                action = RUN_TRAINING
            case _:
                return row
        # The actor's keyword arguments: the event as clients see it (snake_case names,
        # decimal-string uint256, EIP-55 addresses), and where it happened.
        payload = event.to_json() | {
            "chain_id": fact.chain_id,
            "tx_hash": "0x" + fact.tx_hash.hex(),
        }
        return {
            "chain_id": fact.chain_id,
            "block_hash": fact.block_hash,
            "log_index": fact.log_index,
            "action": action,
            "payload": payload,
            "block_number": fact.block_number,
        }
