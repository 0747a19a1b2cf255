"""The platform's long-running parts in one process (for `datacoin up` and the demo):
indexer, projector (with resolver and outbox dispatcher), API, and a worker when one is
available. Production runs each as its own service (see ops/)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import structlog
import uvicorn

from api.app import create_app
from cli.commands.serve import proxy_options
from common.manifest import Deployment
from common.settings import Settings
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from migrations.runner import require_current
from projections.projector import Projector
from storage.open import open_blobs
from workers.bridge.build import bridged_chains, build_relayer
from workers.dispatch import Dispatcher
from workers.resolver import Resolver

log = structlog.get_logger(__name__)


@dataclass
class Stack:
    """Starts the components as threads; `stop()` ends them."""

    settings: Settings
    deployment: Deployment
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    server: uvicorn.Server | None = None
    indexer: Indexer | None = None  # the home chain's
    indexers: list[Indexer] = field(default_factory=list)  # one per chain, home first
    #: Run a bridge relayer when two chains are bridged (off: relayers run on their own).
    relay: bool = True

    @property
    def api_url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except (Exception, SystemExit):  # uvicorn exits its thread when it cannot bind
                log.exception("stack.component.crashed", component=name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start(self, worker: Callable[[threading.Event], None] | None = None) -> None:
        """Check the schema, then start every component; returns once the API answers."""
        s = self.settings
        require_current(s.database_url)  # only `datacoin db upgrade` migrates
        config = IndexerConfig(
            confirmations=s.confirmations,
            concurrency=s.index_concurrency,
            poll_interval=s.poll_interval,
            fetch_processes=s.index_workers,
            initial_range=s.index_initial_range,
        )
        # One indexer per chain, all into the one event store (each keyed by its chain id).
        chains = [(s.rpc_url, self.deployment)] + [
            (remote.rpc_url, Deployment.load(remote.manifest_path)) for remote in s.remote_chains
        ]
        for rpc_url, deployment in chains:
            indexer = Indexer(
                RpcClient(rpc_url), PostgresEventStore(s.database_url), deployment, config=config
            )
            self.indexers.append(indexer)
            self._spawn(
                f"indexer-{deployment.chain_id}", partial(indexer.run, stop=self.stop_event)
            )
        self.indexer = self.indexers[0]
        runner = Projector.from_settings(s, PostgresEventStore(s.database_url))
        runner.prepare()  # the resolver and dispatcher read its tables: create them first
        self._spawn("projector", lambda: runner.run_forever(self.stop_event, idle_timeout=0.2))
        resolver = Resolver(s.database_url, open_blobs(s), s.read_schema)
        self._spawn("resolver", lambda: resolver.run_forever(self.stop_event, interval=0.2))
        # A bridge between two of the chains: relay it (unless relayers run on their own).
        if self.relay and len(bridged_chains(s)) >= 2:
            relayer = build_relayer(s)
            interval = s.bridge_relayer_interval
            self._spawn("relayer", lambda: relayer.run_forever(self.stop_event, interval))
        dispatcher = Dispatcher.from_settings(s)
        self._spawn("dispatcher", lambda: dispatcher.run_forever(self.stop_event, interval=0.2))
        if worker is not None:
            self._spawn("worker", lambda: worker(self.stop_event))
        config_api = uvicorn.Config(
            create_app(s),
            host=s.api_host,
            port=s.api_port,
            log_level="warning",
            **proxy_options(s),
        )
        self.server = uvicorn.Server(config_api)
        self._spawn("api", self.server.run)
        api = self.threads[-1]
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not api.is_alive():  # fail now, with the reason logged, not after the deadline
                raise RuntimeError(f"the API stopped while starting (port {s.api_port})")
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start within 60 s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every component and wait for them."""
        self.stop_event.set()
        if self.server is not None:
            self.server.should_exit = True
        for thread in self.threads:
            thread.join(timeout=15)
