"""Fixtures for worker tests: bubblewrap, a staked worker on anvil, storage, settings, and
a real broker (Redis, or RabbitMQ for tests marked ``BOTH_BROKERS``)."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import orjson
import pytest
import redis

from api.routers.uploads import store_upload
from common.chain import Transactor, dev_account
from common.documents import DatasetDocument
from common.settings import Settings
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from storage.open import open_blobs, open_keyring
from tests.conftest import Platform, service_missing
from tests.indexer.activity import WAD, fund, mine
from tests.workers.brokers import RABBITMQ_URL, BrokerSpace, rabbitmq_reachable
from workers.actors import declare_actors
from workers.dispatch import Dispatcher
from workers.services import WorkerServices, build_services
from workers.training.warmup import warm_bytecode

REPO = Path(__file__).resolve().parents[2]
WORKER_INDEX = 7
PROVIDER, BUYER = 1, 2
#: The sandbox limits of the tests' jobs, as settings.
TEST_SANDBOX: dict[str, Any] = {
    "sandbox_cpu_seconds": 120,
    "sandbox_memory_bytes": 4 << 30,
    "sandbox_max_processes": 64,
    "sandbox_output_bytes": 64 << 20,
    "sandbox_wall_seconds": 120.0,
}


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The real RabbitMQ, checked reachable (each test prefixes its own queues)."""
    try:
        rabbitmq_reachable(RABBITMQ_URL)
    except Exception as exc:  # any failure to connect means "missing service"
        service_missing("RabbitMQ", exc)
    return RABBITMQ_URL


@pytest.fixture
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Redis, or RabbitMQ where a test is parametrized so (``BOTH_BROKERS``)."""
    if getattr(request, "param", "redis") == "rabbitmq":
        return str(request.getfixturevalue("rabbitmq_url"))
    return redis_url


@pytest.fixture
def broker_space(broker_url: str) -> Iterator[BrokerSpace]:
    """This test's namespace on the broker (its queues and keys removed afterwards)."""
    space = BrokerSpace(broker_url)
    yield space
    space.close()


@pytest.fixture(scope="session")
def bubblewrap() -> None:
    """bwrap installed (by ops/install-sandbox.sh when missing) and bytecode warmed."""
    if shutil.which("bwrap") is None:
        result = subprocess.run(
            ["bash", str(REPO / "ops/install-sandbox.sh")],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or shutil.which("bwrap") is None:
            service_missing("bubblewrap", RuntimeError(result.stderr.strip()[-500:]))
    warm_bytecode()


def classification_csv(rows: int = 240, seed: int = 3) -> bytes:
    """A small, learnable table: `label` depends on `x1` and `x2`; `noise` does not."""
    rng = random.Random(seed)
    lines = ["x1,x2,noise,label"]
    for _ in range(rows):
        x1, x2, noise = rng.gauss(0, 1), rng.gauss(0, 1), rng.random()
        label = "high" if x1 + 0.5 * x2 > 0.2 else "low"
        lines.append(f"{x1:.4f},{x2:.4f},{noise:.4f},{label}")
    return ("\n".join(lines) + "\n").encode()


def spec_doc(**overrides: Any) -> dict[str, Any]:
    """A valid classification spec, with `overrides`."""
    base: dict[str, Any] = {
        "task": "classification",
        "target": "label",
        "features": ["x1", "x2", "noise"],
        "model": {"kind": "mlp", "hidden_sizes": [8]},
        "epochs": 5,
        "batch_size": 32,
        "learning_rate": 0.05,
        "validation_split": 0.25,
        "seed": 11,
    }
    return base | overrides


@dataclass(kw_only=True)
class TrainingWorld:
    """A platform with a registered, staked worker, an embedded store, a broker namespace
    and the settings a worker process reads (`fields`, as ``Settings(**fields)``)."""

    platform: Platform
    fields: dict[str, Any]
    space: BrokerSpace
    worker: Transactor
    settings: Settings = field(init=False)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = Settings(**self.fields)

    def configure(self, **changes: Any) -> None:
        """Change settings for what starts after (workers in this process or others)."""
        self.fields |= changes
        self.settings = Settings(**self.fields)

    @property
    def db_url(self) -> str:
        return self.settings.database_url

    @property
    def namespace(self) -> str:
        return self.space.namespace

    @property
    def rpc_url(self) -> str:
        return str(self.platform.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]

    def list_dataset(self, data: bytes, filename: str = "table.csv") -> tuple[int, DatasetDocument]:
        """Store `data` encrypted (the API's upload path) and list it; returns its id."""
        blobs, keyring = open_blobs(self.settings), open_keyring(self.settings)
        fields: dict[str, Any] = {
            "title": "Synthetic table",
            "category": "tabular",
            "description": "",
            "tags": [],
            "license": None,
        }
        doc, meta_cid = store_upload(
            settings=self.settings,
            blobs=blobs,
            keyring=keyring,
            source=io.BytesIO(data),
            filename=filename,
            fields=fields,
            encrypted=True,
        )
        market = self.platform.client.contract("Marketplace")
        self.platform.account(PROVIDER).send(
            market.functions.listDataset(
                meta_cid, bytes.fromhex(doc.content_sha256), "tabular", WAD, 0
            )
        )
        return int(market.functions.datasetCount().call()), doc

    def buy(self, dataset_id: int, buyer: int = BUYER) -> None:
        market = self.platform.client.contract("Marketplace")
        coin = self.platform.client.contract("DataCoin")
        self.platform.account(buyer).send(coin.functions.approve(market.address, 2**255))
        self.platform.account(buyer).send(market.functions.purchase(dataset_id, 2**255))

    def put_spec(self, document: dict[str, Any]) -> str:
        return open_blobs(self.settings).put([orjson.dumps(document)]).cid

    def request(self, dataset_id: int, spec_cid: str, buyer: int = BUYER) -> int:
        training = self.platform.client.contract("TrainingLog")
        coin = self.platform.client.contract("DataCoin")
        account = self.platform.account(buyer)
        account.send(coin.functions.approve(training.address, 2**255))
        account.send(training.functions.requestTraining(dataset_id, spec_cid, 10 * WAD))
        return int(training.functions.jobCount().call())

    def job_status(self, job_id: int) -> int:
        job = self.platform.client.contract("TrainingLog").functions.getJob(job_id).call()
        return int(job[2])

    def logged_events(self, job_id: int) -> list[Any]:
        event = self.platform.client.contract("TrainingLog").events.TrainingLogged()
        return list(event.get_logs(from_block=0, argument_filters={"jobId": job_id}))

    def sync(self, confirm: bool = True) -> None:
        """Bury the head under the confirmation depth, index it and project it."""
        if confirm:
            mine(self.platform.client.w3, 3)
        store = PostgresEventStore(self.db_url)
        cfg = IndexerConfig(confirmations=2, use_finalized_tag=False, poll_interval=0.01)
        Indexer(RpcClient(self.rpc_url), store, self.platform.deployment, config=cfg).run(
            to_block=self.platform.client.w3.eth.block_number
        )
        runner = Projector(self.db_url, store)
        runner.run_once()
        runner.close()
        store.close()

    def broker(self) -> dramatiq.Broker:
        return self.space.broker()

    def dispatch(self, broker: dramatiq.Broker) -> int:
        dispatcher = Dispatcher(database_url=self.db_url, broker=broker, namespace=self.namespace)
        return dispatcher.dispatch_once()

    def services(self) -> WorkerServices:
        services = build_services(self.settings)
        self.cleanups.append(services.close)
        return services

    def start_worker(self, broker: dramatiq.Broker, threads: int = 1) -> dramatiq.Worker:
        """A Dramatiq worker (its own threads) consuming its chain's queue."""
        services = self.services()
        queue = self.space.queue(services.chain_id)
        declare_actors(broker, services, queue=queue)
        worker = dramatiq.Worker(broker, queues={queue}, worker_threads=threads, worker_timeout=100)
        worker.start()
        self.cleanups.append(lambda: worker.stop(timeout=10_000))
        return worker

    def wait_for(self, condition: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.1)


def _register_worker(platform: Platform) -> Transactor:
    training = platform.client.contract("TrainingLog")
    staking = platform.client.contract("Staking")
    coin = platform.client.contract("DataCoin")
    worker = platform.account(WORKER_INDEX)
    platform.deployer.send(training.functions.registerWorker(worker.address))
    fund(platform, [PROVIDER, BUYER, WORKER_INDEX])
    worker.send(coin.functions.approve(staking.address, 2**255))
    worker.send(staking.functions.stake(platform.config.min_worker_stake))
    return worker


@pytest.fixture
def training_world(
    chain: Platform,
    fresh_db: str,
    redis_url: str,
    broker_space: BrokerSpace,
    tmp_path: Path,
    bubblewrap: None,
) -> Iterator[TrainingWorld]:
    """A worker registered and staked on the session chain (reverted afterwards)."""
    worker = _register_worker(chain)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    manifest = data_dir / "deployment.json"
    chain.deployment.save(manifest)
    fields = {
        "rpc_url": str(chain.client.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        "database_url": fresh_db,
        "redis_url": redis_url,  # the broker on Redis (RabbitMQ runs set broker_url)
        "broker_url": broker_space.url,
        "broker_namespace": broker_space.namespace,
        "data_dir": str(data_dir),
        "manifest_path": str(manifest),
        "worker_key": "0x" + bytes(dev_account(WORKER_INDEX).key).hex(),
        "training_device": "cpu",
        **TEST_SANDBOX,
    }
    world = TrainingWorld(platform=chain, fields=fields, space=broker_space, worker=worker)
    yield world
    for cleanup in reversed(world.cleanups):
        cleanup()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{broker_space.namespace}:*"))  # the deliveries
    if keys:
        client.delete(*keys)
    client.close()


def run_in_thread(target: Callable[[], None]) -> threading.Thread:
    """Start `target` in a daemon thread."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def listdir(path: Path) -> list[str]:
    """Entries of `path` ([] when it does not exist)."""
    return sorted(os.listdir(path)) if path.exists() else []


def sandbox_processes(uid: int) -> list[str]:
    """Pids of processes running as the sandbox's uid."""
    found = subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, text=True, check=False)
    return found.stdout.split()
