"""Training jobs: requested -> logged | refunded, with spec, model and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import TrainingLogged, TrainingRefunded, TrainingRequested
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, changed, event_names
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

    # GET /training-jobs pages newest first by (job_id, chain_id), alone or per requester
    # (the account pages; GET /accounts/{address} counts by requester too).
    __table_args__ = (
        Index("ix_training_jobs_newest", text("job_id DESC, chain_id DESC")),
        Index("ix_training_jobs_requester", text("requester, job_id DESC, chain_id DESC")),
    )


class TrainingJobs(Projection):
    """TrainingLog events folded per job."""

    name = "training_jobs"
    table: ClassVar[Table] = TrainingJobRow.__table__  # type: ignore[assignment]
    events = event_names(TrainingRequested, TrainingLogged, TrainingRefunded)
    cost = 1.6  # wide rows

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case (
                TrainingRequested(job_id=job_id)
                | TrainingLogged(job_id=job_id)
                | TrainingRefunded(job_id=job_id)
            ):
                return [(fact.chain_id, job_id)]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"jobId": str(key[1])})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case TrainingRequested() as request:
                return {
                    "chain_id": fact.chain_id,
                    "job_id": request.job_id,
                    "dataset_id": request.dataset_id,
                    "requester": addr(request.requester),
                    "spec_cid": request.spec_cid,
                    "payment": request.payment,
                    "deadline": block_time(request.deadline),
                    "status": "requested",
                    "requested_at": block_time(fact.block_timestamp),
                    "request_tx": fact.tx_hash,
                    "worker": None,
                    "model_cid": None,
                    "model_hash": None,
                    "metrics_cid": None,
                    "metrics_hash": None,
                    "worker_amount": None,
                    "provider_amount": None,
                    "settled_at": None,
                    "settle_tx": None,
                    "block_number": fact.block_number,
                }
            case _ if row is None:
                return None
            case TrainingLogged() as logged:
                return changed(
                    row,
                    fact,
                    status="logged",
                    worker=addr(logged.worker),
                    model_cid=logged.model_cid,
                    model_hash=logged.model_hash,
                    metrics_cid=logged.metrics_cid,
                    metrics_hash=logged.metrics_hash,
                    worker_amount=logged.worker_amount,
                    provider_amount=logged.provider_amount,
                    settled_at=block_time(fact.block_timestamp),
                    settle_tx=fact.tx_hash,
                )
            case TrainingRefunded():
                return changed(
                    row,
                    fact,
                    status="refunded",
                    settled_at=block_time(fact.block_timestamp),
                    settle_tx=fact.tx_hash,
                )
        return row
