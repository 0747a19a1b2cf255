"""`datacoin export`."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from common.errors import ConfigurationError
from common.settings import Settings
from indexer.export import export_ndjson, export_parquet
from indexer.store_pg import PostgresEventStore


def run_export(settings: Settings, fmt: str, output: Path | None, console: Console) -> None:
    """Export the event store as NDJSON (to a file or stdout) or Parquet (to a file)."""
    store = PostgresEventStore(settings.database_url)
    try:
        if fmt == "parquet":
            if output is None:
                raise ConfigurationError("parquet needs --output PATH")
            count = export_parquet(store, output)
        elif output is None:
            count = export_ndjson(store, sys.stdout.buffer)
        else:
            with output.open("wb") as out:
                count = export_ndjson(store, out)
    finally:
        store.close()
    console.print(f"exported {count:,} entries" + (f" to {output}" if output else ""))
