"""Composition for a worker process: chain, storage, keys, sandbox and the services the
actors call. Built once per process from settings, never at import time."""

from __future__ import annotations

from dataclasses import dataclass, replace

import redis
from eth_account import Account

from common.chain import DEV_CHAIN_IDS, ChainClient, Transactor, connect, dev_account
from common.errors import ConfigurationError
from common.manifest import Deployment
from common.settings import Settings
from storage.open import open_blobs, open_keyring
from workers.access import AccessDeliveries, AccessService
from workers.config import WorkerConfig
from workers.sandbox.factory import open_sandbox
from workers.training.job import TrainingConfig, TrainingService
from workers.training.ledger import TrainingLedger


@dataclass
class WorkerServices:
    """What the actors need: one chain's access and training services."""

    chain_id: int
    access: AccessService
    training: TrainingService
    redis: redis.Redis

    def close(self) -> None:
        """Stop spare sandboxes, release connections."""
        self.training.close()
        self.redis.close()


def worker_transactor(client: ChainClient, key: str | None) -> Transactor:
    """The worker's signer: its key, or anvil's first dev key on a dev chain."""
    if key:
        return Transactor(client.w3, Account.from_key(key))
    if client.deployment.chain_id in DEV_CHAIN_IDS:
        return Transactor(client.w3, dev_account(0))
    raise ConfigurationError("set DATACOIN_WORKER_KEY: the worker signs logTraining")


def build_training(settings: Settings, config: WorkerConfig, *, signer: bool) -> TrainingService:
    """The training service; with `signer`, able to log results (else read-only: audits)."""
    deployment = Deployment.load(settings.manifest_file)
    client = ChainClient(connect(settings.rpc_url), deployment)
    work_root = config.work_root(settings)
    hide = [settings.data_dir.resolve(), work_root]
    backend = config.sandbox_backend
    sandbox = open_sandbox(backend, config.sandbox_uid, hide, config.sandbox_docker_image)
    training = TrainingConfig(
        work_root=work_root,
        limits=config.limits,
        device=config.training_device,
        max_dataset_bytes=config.training_max_dataset_bytes,
        spares=config.training_spares if signer else 0,  # an audit runs once: no spares
    )
    if backend == "docker":  # the image's interpreter, with the code on its own path
        training = replace(training, python="python", pythonpath=None)
    ledger = TrainingLedger(
        client, worker_transactor(client, config.worker_key) if signer else None
    )
    blobs, keyring = open_blobs(settings), open_keyring(settings)
    service = TrainingService(ledger, blobs, keyring, sandbox, training)
    # A job dir lives at most a spare's idle time plus a run's wall clock.
    service.starter.sweep(training.spare_idle_seconds + config.limits.wall_seconds + 600)
    return service


def build_services(settings: Settings, config: WorkerConfig) -> WorkerServices:
    """Connect to the chain, storage and Redis; pick the sandbox."""
    training = build_training(settings, config, signer=True)
    client = training.ledger.client
    cache = redis.Redis.from_url(config.delivery_redis_url or settings.redis_url)
    access = AccessService(client, AccessDeliveries(cache, config.broker_namespace))
    return WorkerServices(client.deployment.chain_id, access, training, cache)
