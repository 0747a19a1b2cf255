"""One training job, outside the sandbox: chain check, fetch, verify, decrypt, sandboxed
training, upload of the model and its card, and ``logTraining``.

The worker holds the platform keys and the chain key; the sandbox holds neither. It gets
the decrypted dataset and the spec as files and hands back the model and metrics as files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from pydantic import ValidationError

from common.documents import DatasetDocument
from common.errors import DatacoinError, PermanentError, RetryableError, classify
from storage.base import BlobStore
from storage.envelope import decrypt
from storage.keyring import KeyRing
from workers.sandbox.base import (
    IN_DIR,
    OUT_DIR,
    Limits,
    Sandbox,
    SandboxResult,
)
from workers.training.canonical import canonical_json, sha256_hex
from workers.training.ledger import DatasetRecord, JobRecord, JobStatus, TrainingLedger
from workers.training.spares import ProgramSpec, SandboxStarter
from workers.training.spec import FRAMEWORKS, MAX_SPEC_BYTES, Framework, TrainingSpec, parse_spec
from workers.training.stored import MAX_MODEL_BYTES, fetch_limited, seal_model
from workers.training.trained import MODEL_FILES, ModelFormat

log = structlog.get_logger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_DOCUMENT = 1 << 20
CARD_KIND = "datacoin-model-card/1"
IDLE_EXIT = 3  # workers.training.entry.IDLE (not imported: that module is the sandbox's)
#: What the model card says about reproducing each framework's model (measured: the README's
#: Workers section, tests/workers/test_training_keras.py).
DETERMINISM = {
    "pytorch": "bit-identical: the same inputs, code and libraries on the same platform give "
    "the same model bytes",
    "tensorflow": "bit-identical: the same inputs, code and libraries on the same platform give "
    "the same .keras bytes (op determinism, one thread each way, oneDNN off, fixed ZIP "
    "timestamps and metadata)",
}


class SandboxLimitError(PermanentError):
    """The training stopped at a sandbox limit or failed inside it (not retried)."""

    def __init__(self, result: SandboxResult) -> None:
        super().__init__(f"training {result.failure}: {result.detail}")
        self.result = result


@dataclass(frozen=True)
class TrainingConfig:
    """How this worker runs jobs."""

    work_root: Path
    limits: Limits = field(default_factory=Limits)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    python: str = sys.executable
    pythonpath: str | None = str(REPO_ROOT)
    max_dataset_bytes: int = 256 << 20
    keep_workdirs: bool = False
    spares: int = 0
    spare_idle_seconds: float = 600.0


@dataclass(frozen=True)
class Produced:
    """What a sandboxed run made, before anything is uploaded."""

    model: bytes
    model_format: ModelFormat
    metrics: bytes
    run: dict[str, Any]
    spec: TrainingSpec
    dataset: DatasetRecord
    document: DatasetDocument
    timings: dict[str, float]

    def card(self, chain_id: int, job: JobRecord, model_cid: str) -> bytes:
        """The model card (canonical JSON, public: metrics and provenance, no data). The
        model itself is sealed (see workers.training.stored): `model.cid` names its envelope
        and `model.sha256` the plaintext, which is what the chain's modelHash commits to."""
        doc = {
            "kind": CARD_KIND,
            "chain_id": chain_id,
            "job_id": job.job_id,
            "dataset": {
                "id": job.dataset_id,
                "metadata_cid": self.dataset.metadata_cid,
                "content_cid": self.document.content_cid,
                "content_sha256": self.document.content_sha256,
            },
            "spec_cid": job.spec_cid,
            "spec": self.spec.model_dump(mode="json"),
            "seed": self.spec.seed,
            "framework": self.spec.framework,
            "determinism": DETERMINISM[self.spec.framework],
            "model": {
                "cid": model_cid,
                "sha256": sha256_hex(self.model),
                "size": len(self.model),
                "format": self.model_format,
                "encrypted": True,
            },
            "metrics": orjson.loads(self.metrics),
            "metrics_sha256": sha256_hex(self.metrics),
            "code_version": self.run["code_version"],
            "libraries": self.run["libraries"],
            "training": {"device": self.run["device"], "train_loss": self.run["train_loss"]},
        }
        return canonical_json(doc)


@dataclass(frozen=True)
class Outcome:
    """How a job ended for this worker."""

    job_id: int
    status: Literal["logged", "already_settled", "expired"]
    model_cid: str | None = None
    metrics_cid: str | None = None
    tx_hash: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _counted(chunks: Iterable[bytes], digest: Any, limit: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if size > limit:
            raise PermanentError(f"the stored dataset exceeds {limit} bytes")
        yield chunk


class TrainingService:
    """Runs training jobs for one chain."""

    def __init__(
        self,
        ledger: TrainingLedger,
        blobs: BlobStore,
        keyring: KeyRing,
        sandbox: Sandbox,
        config: TrainingConfig,
    ) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.keyring = keyring
        self.sandbox = sandbox
        self.config = config
        # One starter per framework; a framework's spares start with its first job, so a
        # worker that never trains with TensorFlow never loads it.
        self.starters = {
            framework: SandboxStarter(
                sandbox,
                config.work_root,
                self._program(framework),
                config.spares,
                config.spare_idle_seconds,
            )
            for framework in FRAMEWORKS
        }

    @property
    def starter(self) -> SandboxStarter:
        """The PyTorch jobs' starter (the default framework's)."""
        return self.starters["pytorch"]

    def close(self) -> None:
        """Stop the spare sandboxes."""
        for starter in self.starters.values():
            starter.close()

    def run(self, job_id: int) -> Outcome:
        """Train and log `job_id` unless the chain says it is settled or expired."""
        started = time.perf_counter()
        job = self.ledger.job(job_id)
        if job.status != JobStatus.REQUESTED:
            log.info("training.skipped", job_id=job_id, status=job.status.name.lower())
            return Outcome(job_id, "already_settled")
        if self.ledger.now() > job.deadline:
            log.warning("training.expired", job_id=job_id, deadline=job.deadline)
            return Outcome(job_id, "expired")
        self.ledger.check_worker()
        checked = time.perf_counter()
        made = self.produce(job)
        upload_started = time.perf_counter()
        model_cid = seal_model(self.blobs, self.keyring, made.model)
        card = made.card(self.ledger.chain_id, job, model_cid)
        card_cid = self.blobs.put([card]).cid
        self.blobs.pin(model_cid)
        self.blobs.pin(card_cid)
        tx = self.ledger.log_result(
            job_id,
            model_cid,
            hashlib.sha256(made.model).digest(),
            card_cid,
            hashlib.sha256(made.metrics).digest(),
        )
        timings = {
            **made.timings,
            "check": checked - started,
            "publish": time.perf_counter() - upload_started,
            "total": time.perf_counter() - started,
        }
        if tx is None:
            return Outcome(job_id, "already_settled", model_cid, card_cid, None, timings)
        log.info(
            "training.logged",
            job_id=job_id,
            model_cid=model_cid,
            tx=tx,
            total_s=round(timings["total"], 3),
            train_s=round(timings["train"], 3),
        )
        return Outcome(job_id, "logged", model_cid, card_cid, tx, timings)

    def produce(self, job: JobRecord) -> Produced:
        """Read the spec, start the sandbox of its framework (its import overlaps what
        follows), fetch and check the dataset into it, wait for the training, return its
        outputs."""
        t0 = time.perf_counter()
        spec_raw, spec = self._spec(job)
        starter = self.starters[spec.framework]
        started = starter.take(f"job-{self.ledger.chain_id}-{job.job_id}")
        workdir, proc = started.workdir, started.proc
        try:
            try:
                dataset, doc = self._inputs(job, workdir, spec_raw)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            t1 = time.perf_counter()
            result = proc.wait()
            t2 = time.perf_counter()
            self._check(result, workdir)
            model_format: ModelFormat = "keras" if spec.framework == "tensorflow" else "safetensors"
            model, metrics, run = self._outputs(workdir, model_format)
        finally:
            if not self.config.keep_workdirs:
                shutil.rmtree(workdir, ignore_errors=True)
        timings = {"prepare": t1 - t0, "sandbox": t2 - t0, "train": float(run["train_seconds"])}
        return Produced(model, model_format, metrics, run, spec, dataset, doc, timings)

    def _program(self, framework: Framework) -> ProgramSpec:
        env = {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "DATACOIN_DEVICE": self.config.device,
            "DATACOIN_FRAMEWORK": framework,
        }
        if framework == "tensorflow":
            # Keras on TensorFlow; oneDNN's CPU-specific kernels off (results that do not
            # depend on the CPU's instruction set); TensorFlow's C++ logs quiet.
            env |= {"KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0"}
            env |= {"TF_CPP_MIN_LOG_LEVEL": "2"}
        if self.config.pythonpath:
            env["PYTHONPATH"] = self.config.pythonpath
        argv = [self.config.python, "-m", "workers.training.entry"]
        gpu = self.config.device != "cpu" and any(Path("/dev").glob("nvidia[0-9]*"))
        return ProgramSpec(argv, env, self.config.limits, gpu and framework == "pytorch")

    def _spec(self, job: JobRecord) -> tuple[bytes, TrainingSpec]:
        """The job's spec document, fetched and checked."""
        spec_raw = fetch_limited(self.blobs, job.spec_cid, MAX_SPEC_BYTES)
        try:
            return spec_raw, parse_spec(spec_raw)
        except (ValidationError, ValueError) as exc:
            raise PermanentError(f"invalid training spec {job.spec_cid}: {exc}") from None

    def _inputs(
        self, job: JobRecord, workdir: Path, spec_raw: bytes
    ) -> tuple[DatasetRecord, DatasetDocument]:
        """Fetch, check and write the spec and the decrypted dataset, then signal ready."""
        dataset = self.ledger.dataset(job.dataset_id)
        doc = self._document(dataset)
        (workdir / IN_DIR / "spec.json").write_bytes(spec_raw)
        self._write_dataset(workdir / IN_DIR / f"dataset.{doc.format}", dataset, doc)
        (workdir / IN_DIR / "ready").touch()
        return dataset, doc

    def _document(self, dataset: DatasetRecord) -> DatasetDocument:
        raw = fetch_limited(self.blobs, dataset.metadata_cid, MAX_DOCUMENT)
        try:
            return DatasetDocument.model_validate_json(raw)
        except ValidationError as exc:
            raise PermanentError(f"invalid dataset document {dataset.metadata_cid}") from exc

    def _outputs(
        self, workdir: Path, model_format: ModelFormat
    ) -> tuple[bytes, bytes, dict[str, Any]]:
        out = workdir / OUT_DIR
        model = _read_output(out / MODEL_FILES[model_format], MAX_MODEL_BYTES)
        metrics = _read_output(out / "metrics.json", MAX_DOCUMENT)
        run = orjson.loads(_read_output(out / "run.json", MAX_DOCUMENT))
        if canonical_json(orjson.loads(metrics)) != metrics:
            raise PermanentError("the sandbox wrote non-canonical metrics")
        return model, metrics, run

    def _write_dataset(self, path: Path, dataset: DatasetRecord, doc: DatasetDocument) -> None:
        """Stream the content (each block checked against its CID), check it is the content
        the provider committed on chain, decrypt into the job dir."""
        if doc.content_sha256 != dataset.content_hash.hex():
            raise PermanentError(
                f"dataset {dataset.dataset_id}: its document's content hash differs from "
                "the contentHash listed on chain"
            )
        digest = hashlib.sha256()
        chunks = _counted(self.blobs.get(doc.content_cid), digest, self.config.max_dataset_bytes)
        plain = decrypt(chunks, self.keyring) if doc.encrypted else chunks
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                for chunk in plain:
                    f.write(chunk)
            os.chmod(path, 0o644)
        except DatacoinError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        if digest.hexdigest() != doc.content_sha256:
            raise PermanentError(f"dataset {dataset.dataset_id}: stored bytes do not match")

    def _check(self, result: SandboxResult, workdir: Path) -> None:
        if result.ok:
            return
        error = workdir / OUT_DIR / "error.json"
        if result.failure == "exit" and result.exit_code == 2 and error.is_file():
            reason = orjson.loads(_read_output(error, MAX_DOCUMENT)).get("error", "")
            raise PermanentError(f"the spec does not fit the dataset: {reason}")
        if result.failure == "start":
            raise RetryableError(f"the sandbox did not start: {result.detail}")
        if result.failure == "exit" and result.exit_code == IDLE_EXIT:
            raise RetryableError("the spare sandbox gave up waiting for its job")
        log.error(
            "training.sandbox.failed",
            failure=result.failure,
            detail=result.detail,
            stderr=result.stderr_tail[-1000:],
        )
        raise SandboxLimitError(result)


def _read_output(path: Path, limit: int) -> bytes:
    """A regular file the sandbox wrote, refusing links, FIFOs and oversize files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # no links, no FIFOs
    except OSError as exc:
        raise PermanentError(f"the sandbox left no usable {path.name}: {exc}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise PermanentError(f"{path.name} is not a regular file within {limit} bytes")
        return f.read(limit + 1)
