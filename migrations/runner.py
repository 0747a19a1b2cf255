"""Run alembic programmatically: create the database if missing, then upgrade; and check,
at every service's start, that a database is at this release's schema.

Only `datacoin db upgrade` migrates (in production: the one-shot `migrate` service every
other service waits for). Services check and refuse an old schema instead: several
services migrating at first boot raced each other.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg import sql
from sqlalchemy import Connection, text

from common.db import DatabaseAddress, admin_url, connect_failure, make_engine, require_database
from common.errors import ConfigurationError

log = structlog.get_logger(__name__)
MIGRATIONS_DIR = Path(__file__).parent
#: The advisory lock `upgrade` holds for its transaction: two upgrades started at once
#: (two `migrate` jobs, an operator beside the service) run one after the other.
UPGRADE_LOCK = 0x6461746163_01


class SchemaNotCurrentError(ConfigurationError):
    """The database's schema is not the one this release's code was written for."""


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
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()
    log.info("db.upgraded", revision=revision)


def head_revision() -> str:
    """The newest schema revision this release knows."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "migrations/versions holds no revision"
    return head


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def require_current(url: str) -> None:
    """Check that the database at `url` exists and is migrated to this release's head,
    else raise one clear error saying what to run (services call this at start; they
    never migrate)."""
    require_database(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = _current_revision(conn)
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return
    name = DatabaseAddress.of(url).name
    try:
        known = current is None or ScriptDirectory.from_config(alembic_config("")).get_revision(
            current
        )
    except CommandError:
        known = None
    if not known:
        raise SchemaNotCurrentError(
            f'database "{name}" is at schema revision {current}, which this release does not'
            f" know (its newest is {head}): a newer release migrated it; run that release"
        )
    raise SchemaNotCurrentError(
        f'database "{name}" is at schema revision {current or "none (empty)"}, not {head}:'
        " run `datacoin db upgrade` first (services do not migrate)"
    )


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
