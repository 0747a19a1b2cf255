"""`datacoin project`, `datacoin replay` and `datacoin state-hash`."""

from __future__ import annotations

import signal
import threading

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from common.db import require_database
from common.metrics import serve_metrics
from common.settings import Settings
from indexer.store_pg import PostgresEventStore
from migrations.runner import require_current
from projections.metrics import ProjectorLag
from projections.projector import Projector
from projections.replay import replay
from projections.statehash import state_hash
from projections.tracking import tracking_position


def run_project(settings: Settings, once: bool, console: Console) -> None:
    """Keep the read models up to date (until SIGTERM/Ctrl-C, or once with `once`)."""
    require_current(settings.database_url)  # only `datacoin db upgrade` migrates
    store = PostgresEventStore(settings.database_url)
    runner = Projector.from_settings(settings, store)
    try:
        if once:
            applied = runner.run_once()
            console.print(f"applied {applied:,} entries; position {runner.position:,}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        runner.prepare()  # the companions read its tables: they exist before they start
        registry = CollectorRegistry()
        helpers = _side_loops(settings, stop, registry)
        server = serve_metrics(settings, registry)
        try:
            runner.run_forever(stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            stop.set()
            for thread in helpers:
                thread.join(timeout=10)
            if server is not None:
                server.stop()
    finally:
        runner.close()
        store.close()


def _side_loops(
    settings: Settings, stop: threading.Event, registry: CollectorRegistry
) -> list[threading.Thread]:
    """The projector's companions: the IPFS document resolver and the outbox dispatcher;
    their metrics, and the projector's lag, go into `registry`."""
    from storage.open import open_blobs
    from workers.dispatch import Dispatcher, OutboxBacklog, OutboxMetrics
    from workers.resolver import Resolver, ResolverBacklog, ResolverMetrics

    url, schema = settings.database_url, settings.read_schema
    for collector in (
        ProjectorLag(url, schema),
        OutboxBacklog(url, schema),
        ResolverBacklog(url, schema),
    ):
        registry.register(collector)
    resolver = Resolver(url, open_blobs(settings), schema, metrics=ResolverMetrics(registry))
    dispatcher = Dispatcher.from_settings(settings, OutboxMetrics(registry))
    threads = [
        threading.Thread(target=resolver.run_forever, args=(stop,), name="resolver", daemon=True),
        threading.Thread(target=dispatcher.run_forever, args=(stop,), name="dispatch", daemon=True),
    ]
    for thread in threads:
        thread.start()
    return threads


def run_replay(
    settings: Settings, keep: bool, console: Console, workers: int | None = None
) -> bool:
    """Replay into a fresh schema up to the live read models' position; compare hashes."""
    require_database(settings.database_url)
    live_position = tracking_position(settings.database_url, settings.read_schema)
    store = PostgresEventStore(settings.database_url)
    head = store.head().position
    until = live_position if live_position is not None else head
    # Redrawn on each progress report (at least every 0.5 s), not by rich's refresh
    # thread: a single-threaded process forks its replay workers (milliseconds) instead
    # of starting a fork server (~0.35-0.7 s of imports).
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task("replay", total=until)
        result = replay(
            settings.database_url,
            store,
            until=until,
            keep=keep,
            workers=workers,
            on_progress=lambda position, _n: bar.update(task, completed=position, refresh=True),
        )
    store.close()
    console.print(
        f"replayed {result.position:,} entries into schema {result.schema}"
        f"{'' if keep else ' (dropped)'}"
    )
    print(f"replay state hash: {result.state_hash}")
    if live_position is None:
        console.print(f"no live read models in schema {settings.read_schema} to compare with")
        return True
    live = state_hash(settings.database_url, settings.read_schema)
    print(f"live state hash:   {live} (schema {settings.read_schema}, position {live_position})")
    if live != result.state_hash:
        console.print("[red]MISMATCH: the live read models differ from a replay[/red]")
        return False
    console.print("[green]match: the live read models equal a replay from position 0[/green]")
    return True


def run_state_hash(settings: Settings) -> None:
    """Print the live read models' state hash and position."""
    require_database(settings.database_url)
    position = tracking_position(settings.database_url, settings.read_schema)
    if position is None:
        print(f"no read models in schema {settings.read_schema}")
        return
    print(f"{state_hash(settings.database_url, settings.read_schema)} position {position}")
