"""The chain side of a training job: read the job and its dataset, log the result once.

The chain is the authority on whether a job is still open: the worker reads ``getJob``
before training and again before sending, and a ``JobNotOpen`` revert (someone logged it
first) counts as done, so a redelivered message or a restarted worker never logs twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import structlog
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError

from common.chain import ChainClient, RevertError, Transactor, decode_revert
from common.errors import PermanentError, RetryableError, classify

log = structlog.get_logger(__name__)


class JobStatus(IntEnum):
    """``TrainingLog.JobStatus``."""

    NONE = 0
    REQUESTED = 1
    LOGGED = 2
    REFUNDED = 3


@dataclass(frozen=True)
class JobRecord:
    """A job as ``TrainingLog.getJob`` returns it."""

    job_id: int
    requester: str
    deadline: int
    status: JobStatus
    dataset_id: int
    payment: int
    spec_cid: str


@dataclass(frozen=True)
class DatasetRecord:
    """A listing as ``Marketplace.getDataset`` returns it (the fields training needs)."""

    dataset_id: int
    provider: str
    content_hash: bytes
    metadata_cid: str


@dataclass(frozen=True)
class LoggedResult:
    """A ``TrainingLogged`` event's result fields."""

    job_id: int
    worker: str
    model_cid: str
    model_hash: bytes
    metrics_cid: str
    metrics_hash: bytes
    tx_hash: str


def view_call(fn: ContractFunction) -> Any:
    """A view call with reverts decoded and driver errors classified."""
    try:
        return fn.call()
    except ContractLogicError as exc:
        raise decode_revert(exc.data if isinstance(exc.data, str) else None) from exc
    except Exception as exc:
        raise classify(exc) from exc


class TrainingLedger:
    """TrainingLog and Marketplace on one chain, and the worker's key (None: read-only)."""

    def __init__(self, client: ChainClient, worker: Transactor | None = None) -> None:
        self.client = client
        self.worker = worker
        self._log_lock = threading.Lock()  # one nonce sequence per key in this process

    @property
    def chain_id(self) -> int:
        """The chain the manifest describes."""
        return self.client.deployment.chain_id

    def _training(self) -> Contract:
        return self.client.contract("TrainingLog")

    def job(self, job_id: int) -> JobRecord:
        """The job's on-chain record (PermanentError for an unknown job)."""
        raw = view_call(self._training().functions.getJob(job_id))
        requester, deadline, status, dataset_id, payment, spec_cid = raw
        return JobRecord(
            job_id,
            str(requester),
            int(deadline),
            JobStatus(status),
            int(dataset_id),
            int(payment),
            str(spec_cid),
        )

    def dataset(self, dataset_id: int) -> DatasetRecord:
        """The dataset's listing."""
        raw = view_call(self.client.contract("Marketplace").functions.getDataset(dataset_id))
        return DatasetRecord(dataset_id, str(raw[0]), bytes(raw[6]), str(raw[7]))

    def now(self) -> int:
        """The latest block's timestamp (the contract's clock)."""
        try:
            return int(self.client.w3.eth.get_block("latest")["timestamp"])
        except Exception as exc:
            raise classify(exc) from exc

    def check_worker(self) -> None:
        """RetryableError unless our key may log (registered, staked): an operator can fix
        that while the message waits, and training first would only waste the work."""
        worker = self._require_worker()
        training = self._training()
        if not view_call(training.functions.isWorker(worker.address)):
            raise RetryableError(f"{worker.address} is not a registered worker")
        staking = self.client.contract("Staking")
        staked = int(view_call(staking.functions.stakeOf(worker.address)))
        minimum = int(view_call(training.functions.minWorkerStake()))
        if staked < minimum:
            raise RetryableError(f"worker stake {staked} is below the minimum {minimum}")

    def log_result(
        self,
        job_id: int,
        model_cid: str,
        model_hash: bytes,
        metrics_cid: str,
        metrics_hash: bytes,
    ) -> str | None:
        """Send ``logTraining``; the tx hash, or None when the job was no longer open."""
        worker = self._require_worker()
        call = self._training().functions.logTraining(
            job_id, model_cid, model_hash, metrics_cid, metrics_hash
        )
        with self._log_lock:
            if self.job(job_id).status != JobStatus.REQUESTED:
                return None
            try:
                receipt = worker.send(call)
            except RevertError as exc:
                if exc.error == "JobNotOpen":
                    log.info("training.log.already_settled", job_id=job_id)
                    return None
                raise
            except Exception as exc:
                raise classify(exc) from exc
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def logged(self, job_id: int) -> LoggedResult | None:
        """The job's ``TrainingLogged`` event, read from the chain's logs."""
        event = self._training().events.TrainingLogged()
        try:
            logs = event.get_logs(
                from_block=self.client.deployment.start_block, argument_filters={"jobId": job_id}
            )
        except Exception as exc:
            raise classify(exc) from exc
        for entry in logs:
            a = entry["args"]
            return LoggedResult(
                job_id,
                str(a["worker"]),
                str(a["modelCid"]),
                bytes(a["modelHash"]),
                str(a["metricsCid"]),
                bytes(a["metricsHash"]),
                "0x" + bytes(entry["transactionHash"]).hex(),
            )
        return None

    def _require_worker(self) -> Transactor:
        if self.worker is None:
            raise PermanentError("no worker key configured: this ledger is read-only")
        return self.worker
