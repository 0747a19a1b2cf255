"""Composition for a worker process: chain, storage, keys, sandbox and the services the
actors call. Built once per process from settings, never at import time."""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth_account import Account

from common.chain import DEV_CHAIN_IDS, ChainClient, Transactor, connect, dev_account
from common.errors import ConfigurationError
from common.manifest import Deployment
from common.settings import Settings
from storage.open import open_blobs, open_keyring
from workers.config import sandbox_limits, work_root
from workers.sandbox.factory import open_sandbox
from workers.training.job import TrainingConfig, TrainingService
from workers.training.ledger import TrainingLedger


@dataclass(kw_only=True)
class WorkerServices:
    """What the actors need: one chain's training service."""

    chain_id: int
    training: TrainingService

    def close(self) -> None:
        """Stop spare sandboxes, release connections."""
        self.training.close()


def worker_transactor(client: ChainClient, settings: Settings) -> Transactor:
    """The worker's signer: ``worker_key``, or anvil's first dev key on a dev chain."""
    if settings.worker_key is not None:
        return Transactor(client.w3, Account.from_key(settings.worker_key.get_secret_value()))
    if client.deployment.chain_id in DEV_CHAIN_IDS:
        return Transactor(client.w3, dev_account(0))
    raise ConfigurationError("set DATACOIN_WORKER_KEY: the worker signs logTraining")


def build_training(settings: Settings, *, signer: bool) -> TrainingService:
    """The training service; with `signer`, able to log results (else read-only: audits)."""
    deployment = Deployment.load(settings.manifest_file)
    client = ChainClient(connect(settings.rpc_url), deployment)
    jobs = work_root(settings)
    hide = [settings.data_dir.resolve(), jobs]
    backend = settings.sandbox_backend
    sandbox = open_sandbox(backend, settings.sandbox_uid, hide, settings.sandbox_docker_image)
    training = TrainingConfig(
        work_root=jobs,
        limits=sandbox_limits(settings),
        device=settings.training_device,
        max_dataset_bytes=settings.training_max_dataset_bytes,
        spares=settings.training_spares if signer else 0,  # an audit runs once: no spares
    )
    if backend == "docker":  # the image's interpreter, with the code on its own path
        training = replace(training, python="python", pythonpath=None)
    ledger = TrainingLedger(client, worker_transactor(client, settings) if signer else None)
    blobs, keyring = open_blobs(settings), open_keyring(settings)
    service = TrainingService(ledger, blobs, keyring, sandbox, training)
    # A job dir lives at most a spare's idle time plus a run's wall clock.
    service.starter.sweep(training.spare_idle_seconds + training.limits.wall_seconds + 600)
    return service


def build_services(settings: Settings) -> WorkerServices:
    """Connect to the chain and storage; pick the sandbox."""
    training = build_training(settings, signer=True)
    return WorkerServices(chain_id=training.ledger.client.deployment.chain_id, training=training)
