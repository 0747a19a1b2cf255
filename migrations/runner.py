"""Run alembic programmatically: create the database if missing, then upgrade."""

from __future__ import annotations

from pathlib import Path

import psycopg
import structlog
from alembic import command
from alembic.config import Config
from psycopg import sql

from common.db import DatabaseAddress, admin_url, connect_failure, make_engine, require_database

log = structlog.get_logger(__name__)
MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at our scripts, for `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it does not exist; True if created.

    Only `datacoin db upgrade` (and the demo, which owns its embedded server) create
    databases: every other command fails on a missing one (`require_database`)."""
    name = DatabaseAddress.of(url).name
    try:
        conn = psycopg.connect(admin_url(url), autocommit=True)
    except psycopg.OperationalError as exc:
        raise connect_failure(url, exc) from exc
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        # An identifier, quoted by psycopg: a name may hold quotes or any other character.
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("db.created", database=name)
    return True


def upgrade(url: str, revision: str = "head", *, create: bool = True) -> None:
    """Migrate the database to `revision`, creating it first when `create` (else a missing
    database or an unreachable server raises one clear `DatabaseUnavailableError`)."""
    if create:
        ensure_database(url)
    else:
        require_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()
    log.info("db.upgraded", revision=revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database down to `revision` ("base" empties it)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()
