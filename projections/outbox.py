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
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, natural_key

GRANT_ACCESS = "grant_access"
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


class Outbox(Projection):
    """Purchased -> grant access; TrainingRequested -> run training."""

    name = "outbox"
    table: ClassVar[Table] = OutboxRow.__table__  # type: ignore[assignment]
    events = frozenset({"Purchased", "TrainingRequested"})
    cost = 1.5  # a JSON payload per row
    write_once = True

    def keys(self, event: Fact) -> list[Key]:
        return [natural_key(event)]

    def refold(self, key: Key, event: Fact) -> Refold:
        return Refold(key[0], frozenset(), {})  # an orphaned payment owes nothing

    def apply(self, key: Key, row: Row | None, event: Fact) -> Row | None:
        a = event.args
        if event.event_name == "Purchased":
            action = GRANT_ACCESS
            payload = {"dataset_id": a["datasetId"], "buyer": a["buyer"],
                       "expires_at": a["expiresAt"]}  # fmt: skip
        else:
            action = RUN_TRAINING
            payload = {"job_id": a["jobId"], "dataset_id": a["datasetId"],
                       "spec_cid": a["specCid"], "requester": a["requester"]}  # fmt: skip
        payload |= {"chain_id": event.chain_id, "tx_hash": "0x" + event.tx_hash.hex()}
        return {
            "chain_id": event.chain_id, "block_hash": event.block_hash,
            "log_index": event.log_index,
            "action": action, "payload": payload, "block_number": event.block_number,
        }  # fmt: skip
