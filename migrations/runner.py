"""Run alembic programmatically: create the database if missing, then upgrade."""

from __future__ import annotations

from pathlib import Path

import psycopg
import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from common.db import libpq_url, make_engine

log = structlog.get_logger(__name__)
MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at our scripts, for `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it does not exist; True if created."""
    target = make_url(url)
    name = target.database
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    log.info("db.created", database=name)
    return True


def upgrade(url: str, revision: str = "head") -> None:
    """Create the database if needed and migrate it to `revision`."""
    ensure_database(url)
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
