"""Audit a logged training: re-run it from its on-chain record and compare hashes.

Everything comes from the chain: the job (dataset, spec CID), the ``TrainingLogged`` event
(model and metrics hashes, card CID) and the listing (content hash). The re-run goes through
the same fetch, verification and sandbox as the worker, so a match means: this dataset, this
spec and this code produce exactly the logged model. The stored model is sealed (it belongs
to the requester), so the audit also opens it and checks it is the model the chain commits
to. Needs the platform key ring (the data is decrypted for the re-run, as for the original
one, and the stored model for the comparison).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson
import structlog

from common.errors import DatacoinError, PermanentError
from workers.training.job import MAX_DOCUMENT, TrainingService
from workers.training.ledger import JobStatus, LoggedResult
from workers.training.stored import fetch_limited, open_model
from workers.training.version import code_version

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AuditReport:
    """What an audit found. `ok` when both the model and the metrics hashes match."""

    chain_id: int
    job_id: int
    logged_model_hash: str
    model_hash: str
    logged_metrics_hash: str
    metrics_hash: str
    model_cid: str
    logged_code_version: str | None
    code_version: str
    logged_device: str | None
    device: str
    stored_model_matches: bool

    @property
    def model_matches(self) -> bool:
        """The re-run produced the logged model bytes."""
        return self.model_hash == self.logged_model_hash

    @property
    def metrics_match(self) -> bool:
        """The re-run produced the logged metrics document."""
        return self.metrics_hash == self.logged_metrics_hash

    @property
    def ok(self) -> bool:
        """Both hashes match, and the stored model is the logged one."""
        return self.model_matches and self.metrics_match and self.stored_model_matches


def stored_model_matches(service: TrainingService, logged: LoggedResult) -> bool:
    """Whether the sealed model at the logged CID opens to the logged modelHash."""
    try:
        open_model(service.blobs, service.keyring, logged.model_cid, logged.model_hash)
    except DatacoinError as exc:
        log.warning("audit.model.unreadable", cid=logged.model_cid, error=str(exc)[:200])
        return False
    return True


def audit_job(service: TrainingService, job_id: int) -> AuditReport:
    """Re-run `job_id` and compare with what was logged (PermanentError if not logged)."""
    ledger = service.ledger
    job = ledger.job(job_id)
    logged = ledger.logged(job_id) if job.status == JobStatus.LOGGED else None
    if logged is None:
        raise PermanentError(f"job {job_id} is {job.status.name.lower()}, not logged")
    card: dict[str, object] = {}
    try:
        card = orjson.loads(fetch_limited(service.blobs, logged.metrics_cid, MAX_DOCUMENT))
    except (DatacoinError, orjson.JSONDecodeError) as exc:
        log.warning("audit.card.unreadable", cid=logged.metrics_cid, error=str(exc)[:200])
    made = service.produce(job)
    training = card.get("training")
    report = AuditReport(
        chain_id=ledger.chain_id,
        job_id=job_id,
        logged_model_hash=logged.model_hash.hex(),
        model_hash=hashlib.sha256(made.model).hexdigest(),
        logged_metrics_hash=logged.metrics_hash.hex(),
        metrics_hash=hashlib.sha256(made.metrics).hexdigest(),
        model_cid=logged.model_cid,
        logged_code_version=str(card["code_version"]) if "code_version" in card else None,
        code_version=code_version(),
        logged_device=str(training.get("device")) if isinstance(training, dict) else None,
        device=str(made.run["device"]),
        stored_model_matches=stored_model_matches(service, logged),
    )
    log.info(
        "audit.done",
        job_id=job_id,
        model_matches=report.model_matches,
        metrics_match=report.metrics_match,
        stored_model_matches=report.stored_model_matches,
    )
    return report
