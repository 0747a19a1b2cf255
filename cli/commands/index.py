"""`datacoin index`: backfill then follow, with a live progress line on a terminal."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from prometheus_client import start_http_server
from rich.console import Console
from rich.live import Live

from common.manifest import Deployment
from common.settings import Settings
from indexer.metrics import IndexerMetrics
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig, Progress
from indexer.store_pg import PostgresEventStore
from migrations.runner import require_current


def _line(p: Progress) -> str:
    return (
        f"[bold]{p.phase}[/bold] block {p.cursor:,} / head {p.head:,} "
        f"(lag {max(0, p.head - p.cursor):,})  events {p.events:,}  {p.rate:,.0f} ev/s"
    )


def run_index(
    settings: Settings,
    rpc_url: str | None,
    manifest: Path | None,
    to_block: int | None,
    console: Console,
) -> None:
    """Index the manifest's chain into the configured database until stopped."""
    deployment = Deployment.load(manifest or settings.manifest_file)
    require_current(settings.database_url)  # only `datacoin db upgrade` migrates
    metrics = IndexerMetrics()
    if settings.metrics_port is not None:
        start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=metrics.registry
        )
    store = PostgresEventStore(settings.database_url)
    config = IndexerConfig(
        confirmations=settings.confirmations,
        concurrency=settings.index_concurrency,
        poll_interval=settings.poll_interval,
        initial_range=settings.index_initial_range,
        fetch_processes=settings.index_workers,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    interactive = console.is_terminal
    with Live(console=console, transient=False, auto_refresh=False) as live:

        def show(p: Progress) -> None:
            if interactive:
                live.update(_line(p), refresh=True)

        indexer = Indexer(
            RpcClient(rpc_url or settings.rpc_url),
            store,
            deployment,
            config=config,
            metrics=metrics,
            on_progress=show,
        )
        try:
            indexer.run(to_block=to_block, stop=stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            store.close()
    p = indexer.progress
    console.print(f"indexed chain {deployment.chain_id} to block {p.cursor:,}: {p.events:,} events")
