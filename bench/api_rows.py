"""Read-model rows synthesised straight into a read schema, for API benchmarks at sizes
an event store would take minutes to project (``bench.api_scale``).

Datasets are rows of ``datasets`` and ``dataset_counters`` (and their ``dataset_metadata``
documents), as the projector and the metadata resolver would have written them for
``count`` listings by 2,000 providers over 5 categories, with prices, purchase counts and
ratings drawn at random; purchases are rows of ``purchases`` (one buyer can be given any
number). All go in by binary COPY through the projector's own writer (``write_rows``), in
50k-row chunks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.api_load import CATEGORIES, WORDS
from projections.datasets import DatasetCounters, Datasets
from projections.purchases import Purchases
from projections.writer import prepare_connection, write_rows

CHAIN = 31337
CHUNK = 50_000
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def dataset_rows(first: int, last: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Rows of datasets `first`..`last` (listed one per block, ids = blocks): the columns
    of ``datasets`` and ``dataset_counters`` in one dict (each table takes its own)."""
    rng = random.Random(seed * 1_000_003 + first)
    providers = [bytes([n % 256, n // 256]) * 10 for n in range(2_000)]
    for i in range(first, last + 1):
        ratings = rng.choice([0, 0, 1, 2, 5, 20])
        yield {
            "chain_id": CHAIN,
            "dataset_id": i,
            "provider": rng.choice(providers),
            "price": rng.randint(1, 1000) * 10**18,
            "access_duration": 0,
            "metadata_cid": f"bafy-bench-{i}",
            "content_hash": bytes(32),
            "category": rng.choice(CATEGORIES),
            "status": "listed",
            "purchases": int(rng.paretovariate(1.5)) - 1,
            "rating_count": ratings,
            "rating_sum": sum(rng.randint(1, 5) for _ in range(ratings)),
            "listed_at": EPOCH + timedelta(seconds=12 * i),
            "listed_block": i,
            "block_number": i,
        }


#: Words of one document in RARE (searches that match 0.1% of the documents).
RARE = 1_000


def metadata_rows(first: int, last: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """The metadata documents of datasets `first`..`last`: titles of three common words,
    descriptions of eight more, one word shared with 0.1% of the documents (``lotN``)
    and one of its own (``itemN``)."""
    rng = random.Random(seed * 7_919 + first)
    for i in range(first, last + 1):
        title = " ".join(rng.sample(WORDS, 3)).title()
        about = f"{title}: {' '.join(rng.sample(WORDS, 8))} lot{i % RARE} item{i}"
        yield (f"bafy-bench-{i}", title, about, "", "csv", rng.randint(10, 10**6), 9, Jsonb({}))


def add_datasets(db_url: str, schema: str, first: int, last: int) -> None:
    """Datasets `first`..`last` and their metadata, then VACUUM (ANALYZE) both tables (as
    autovacuum would: it is off on this machine)."""
    with psycopg.connect(db_url) as conn:
        prepare_connection(conn)
        for start in range(first, last + 1, CHUNK):
            end = min(last, start + CHUNK - 1)
            with conn.cursor() as cur:
                rows = list(dataset_rows(start, end))
                write_rows(cur, schema, Datasets.table, inserts=rows)
                write_rows(cur, schema, DatasetCounters.table, inserts=rows)
                with cur.copy(
                    "COPY dataset_metadata (cid, title, description, tags, format, rows,"
                    " columns, document) FROM STDIN"
                ) as copy:
                    for row in metadata_rows(start, end):
                        copy.write_row(row)
            conn.commit()
    _vacuum(db_url, f'"{schema}".datasets', f'"{schema}".dataset_counters', "dataset_metadata")


def add_purchases(
    db_url: str, schema: str, *, buyer: bytes, count: int, others: int, datasets: int
) -> None:
    """`count` purchases by `buyer` and `others` by 1,000 other accounts, spread over
    blocks 1..10M and datasets 1..`datasets`; then VACUUM (ANALYZE)."""
    rng = random.Random(11)
    accounts = [rng.randbytes(20) for _ in range(1_000)]
    buyers = [buyer] * count + [rng.choice(accounts) for _ in range(others)]
    rng.shuffle(buyers)
    with psycopg.connect(db_url) as conn:
        prepare_connection(conn)
        for start in range(0, len(buyers), CHUNK):
            rows = [
                _purchase(rng, n, who, datasets)
                for n, who in enumerate(buyers[start : start + CHUNK], start)
            ]
            with conn.cursor() as cur:
                write_rows(cur, schema, Purchases.table, inserts=rows)
            conn.commit()
    _vacuum(db_url, f'"{schema}".purchases')


def _purchase(rng: random.Random, n: int, buyer: bytes, datasets: int) -> dict[str, Any]:
    block = 1 + n * 7
    return {
        "chain_id": CHAIN,
        "block_hash": block.to_bytes(32, "big"),
        "log_index": n % 7,
        "dataset_id": rng.randint(1, datasets),
        "buyer": buyer,
        "provider": bytes(20),
        "price": 10**18,
        "fee": 25 * 10**15,
        "expires_at": None,
        "tx_hash": rng.randbytes(32),
        "purchased_at": EPOCH + timedelta(seconds=12 * block),
        "block_number": block,
    }


def _vacuum(db_url: str, *tables: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")
