"""`datacoin verify`: audit the event store (hash chain; and the chain itself with --rpc-url)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from common.db import require_database
from common.manifest import Deployment
from common.settings import Settings
from indexer.rpc import RpcClient
from indexer.store_pg import PostgresEventStore
from indexer.verify import Report, verify_against_chain, verify_hash_chain


def _print(console: Console, title: str, report: Report) -> None:
    mark = "[green]ok[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]"
    dead = report.dead_letters
    among = f" ({dead:,} dead letter{'' if dead == 1 else 's'})" if dead else ""
    console.print(f"{title}: {report.checked:,} entries checked{among}, {mark}")
    for problem in report.problems:
        console.print(f"  - {problem}")


def run_verify(
    settings: Settings, rpc_url: str | None, manifest: Path | None, console: Console
) -> bool:
    """Print the audit report; True when everything checked out."""
    require_database(settings.database_url)
    store = PostgresEventStore(settings.database_url)
    try:
        chain_report = verify_hash_chain(store)
        _print(console, "hash chain", chain_report)
        ok = chain_report.ok
        if rpc_url is not None:
            deployment = Deployment.load(manifest or settings.manifest_file)
            logs_report = verify_against_chain(store, RpcClient(rpc_url), deployment)
            _print(console, f"chain {deployment.chain_id} logs vs store", logs_report)
            ok = ok and logs_report.ok
    finally:
        store.close()
    return ok
