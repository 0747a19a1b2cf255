"""A scratch database per benchmark run: created and migrated, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from migrations.runner import upgrade

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new, migrated database named `prefix` and a random suffix; dropped on
    exit, whatever happened (its schemas with it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        url = ADMIN.rsplit("/", 1)[0] + "/" + name
        upgrade(url)  # (creates the database)
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
