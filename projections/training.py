"""Training jobs: requested -> logged | refunded, with spec, model and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, b32, changed
from projections.clock import block_time


class TrainingJobRow(ReadModelBase):
    """One training job."""

    __tablename__ = "training_jobs"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[Uint256] = mapped_column(primary_key=True)
    dataset_id: Mapped[Uint256]
    requester: Mapped[AddressBytes]
    spec_cid: Mapped[str] = mapped_column(Text)
    payment: Mapped[Uint256]
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(Text, comment="requested | logged | refunded")
    requested_at: Mapped[datetime]
    request_tx: Mapped[Bytes32]
    worker: Mapped[AddressBytes | None]
    model_cid: Mapped[str | None] = mapped_column(Text)
    model_hash: Mapped[Bytes32 | None]
    metrics_cid: Mapped[str | None] = mapped_column(Text)
    metrics_hash: Mapped[Bytes32 | None]
    worker_amount: Mapped[Uint256 | None]
    provider_amount: Mapped[Uint256 | None]
    settled_at: Mapped[datetime | None]
    settle_tx: Mapped[Bytes32 | None]
    block_number: Mapped[int] = mapped_column(BigInteger)


class TrainingJobs(Projection):
    """TrainingLog events folded per job."""

    name = "training_jobs"
    table: ClassVar[Table] = TrainingJobRow.__table__  # type: ignore[assignment]
    events = frozenset({"TrainingRequested", "TrainingLogged", "TrainingRefunded"})
    cost = 1.6  # wide rows

    def keys(self, event: Fact) -> list[Key]:
        return [(event.chain_id, int(event.args["jobId"]))]

    def refold(self, key: Key, event: Fact) -> Refold:
        return Refold(key[0], self.events, {"jobId": str(key[1])})

    def apply(self, key: Key, row: Row | None, event: Fact) -> Row | None:
        a = event.args
        match event.event_name:
            case "TrainingRequested":
                return {
                    "chain_id": event.chain_id, "job_id": int(a["jobId"]),
                    "dataset_id": int(a["datasetId"]), "requester": addr(a["requester"]),
                    "spec_cid": a["specCid"], "payment": int(a["payment"]),
                    "deadline": block_time(int(a["deadline"])), "status": "requested",
                    "requested_at": block_time(event.block_timestamp), "request_tx": event.tx_hash,
                    "worker": None, "model_cid": None, "model_hash": None,
                    "metrics_cid": None, "metrics_hash": None, "worker_amount": None,
                    "provider_amount": None, "settled_at": None, "settle_tx": None,
                    "block_number": event.block_number,
                }  # fmt: skip
            case _ if row is None:
                return None
            case "TrainingLogged":
                return changed(
                    row, event, status="logged", worker=addr(a["worker"]),
                    model_cid=a["modelCid"], model_hash=b32(a["modelHash"]),
                    metrics_cid=a["metricsCid"], metrics_hash=b32(a["metricsHash"]),
                    worker_amount=int(a["workerAmount"]),
                    provider_amount=int(a["providerAmount"]),
                    settled_at=block_time(event.block_timestamp), settle_tx=event.tx_hash,
                )  # fmt: skip
            case "TrainingRefunded":
                settled = block_time(event.block_timestamp)
                return changed(row, event, status="refunded", settled_at=settled,
                               settle_tx=event.tx_hash)  # fmt: skip
        return row
