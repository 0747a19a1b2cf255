"""Migrations against the real PostgreSQL: up, down, up again, and no drift from models."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from common.db import libpq_url, make_engine
from migrations.metadata import target_metadata
from migrations.runner import downgrade, ensure_database, upgrade


def test_upgrade_downgrade_upgrade_round_trip(database_url: str) -> None:
    # Given an empty database migrated to head
    upgrade(database_url)
    engine = make_engine(database_url)
    assert {"events", "cursors", "indexed_blocks", "dead_letters"} <= set(
        inspect(engine).get_table_names()
    )
    # When it is downgraded to base, then only alembic's own table remains
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    # And upgrading again works (downgrades are complete)
    upgrade(database_url)
    assert "events" in inspect(engine).get_table_names()
    engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    # Given the database at head, the ORM models describe exactly the same schema
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), target_metadata()
        )
    engine.dispose()
    assert diff == []


def test_event_store_refuses_update_and_delete(database_url: str) -> None:
    upgrade(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO events (position, chain_id, kind, incarnation, block_number,"
            " block_hash, parent_hash, block_timestamp, tx_hash, tx_index, log_index,"
            " address, event_name, args, hash) VALUES (1, 1, 'log', 0, 1, %s, %s, 0, %s,"
            " 0, 0, %s, 'X', '{}', %s)",
            (b"\x01" * 32, b"\x00" * 32, b"\x02" * 32, b"\x03" * 20, b"\x04" * 32),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE events SET event_name = 'Y'")
        conn.rollback()


def test_ensure_database_creates_once(database_url: str) -> None:
    url = database_url.rsplit("/", 1)[0] + "/" + database_url.rsplit("/", 1)[1] + "_extra"
    try:
        assert ensure_database(url) is True
        assert ensure_database(url) is False
    finally:
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"')
