"""Dump the event store for outside tools: NDJSON or Parquet, streamed page by page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from indexer.events import StoredEvent
from indexer.store import EventStore

PAGE = 10_000
SCHEMA = pa.schema(
    [
        ("position", pa.int64()),
        ("kind", pa.string()),
        ("incarnation", pa.int16()),
        ("retracts", pa.int64()),
        ("hash", pa.string()),
        ("chain_id", pa.int64()),
        ("block_number", pa.int64()),
        ("block_hash", pa.string()),
        ("parent_hash", pa.string()),
        ("block_timestamp", pa.int64()),
        ("tx_hash", pa.string()),
        ("tx_index", pa.int32()),
        ("log_index", pa.int32()),
        ("address", pa.string()),
        ("event_name", pa.string()),
        ("args", pa.string()),
    ]
)


def record(entry: StoredEvent) -> dict[str, Any]:
    """One entry as a flat, JSON-ready record (bytes as 0x-hex, args as an object)."""
    e = entry.event
    return {
        "position": entry.position,
        "kind": entry.kind,
        "incarnation": entry.incarnation,
        "retracts": entry.retracts,
        "hash": "0x" + entry.hash.hex(),
        "chain_id": e.chain_id,
        "block_number": e.block_number,
        "block_hash": "0x" + e.block_hash.hex(),
        "parent_hash": "0x" + e.parent_hash.hex(),
        "block_timestamp": e.block_timestamp,
        "tx_hash": "0x" + e.tx_hash.hex(),
        "tx_index": e.tx_index,
        "log_index": e.log_index,
        "address": "0x" + e.address.hex(),
        "event_name": e.event_name,
        "args": e.args,
    }


def pages(store: EventStore, after: int = 0) -> Iterator[list[StoredEvent]]:
    """The store's entries after `after`, a page at a time."""
    position = after
    while batch := store.read_after(position, PAGE):
        yield batch
        position = batch[-1].position


def export_ndjson(store: EventStore, out: IO[bytes]) -> int:
    """Write one JSON object per line; returns the number of entries."""
    count = 0
    for batch in pages(store):
        out.write(b"".join(orjson.dumps(record(e)) + b"\n" for e in batch))
        count += len(batch)
    return count


def export_parquet(store: EventStore, path: Path) -> int:
    """Write a Parquet file (args as a JSON string column); returns the number of entries."""
    count = 0
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for batch in pages(store):
            rows = [record(e) for e in batch]
            for row in rows:
                row["args"] = orjson.dumps(row["args"], option=orjson.OPT_SORT_KEYS).decode()
            writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
            count += len(rows)
    return count
