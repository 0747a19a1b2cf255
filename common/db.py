"""SQLAlchemy 2 foundations: the declarative base, chain column types and engines; and the
one check that a database is there (with one clear line when it is not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import BigInteger, DateTime, Engine, LargeBinary, MetaData, create_engine
from sqlalchemy.dialects.postgresql import JSONB, NUMERIC
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

from common.errors import ConfigurationError

#: Seconds to wait for PostgreSQL before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5

#: Stable constraint names, so alembic autogenerate and downgrades are deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A uint256 kept exact: NUMERIC(78, 0) holds every value up to 2**256 - 1.
Uint256 = Annotated[int, "uint256"]
#: A 32-byte hash (block hash, tx hash, bytes32) stored raw.
Bytes32 = Annotated[bytes, "bytes32"]
#: A 20-byte address stored raw; rendered EIP-55 at the edges.
AddressBytes = Annotated[bytes, "address"]


class Base(DeclarativeBase):
    """The one declarative base of every table we own."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        int: BigInteger(),
        Uint256: NUMERIC(78, 0),
        Bytes32: LargeBinary(32),
        AddressBytes: LargeBinary(20),
        bytes: LargeBinary(),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB(),
    }


def sync_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """The same URL in libpq form, for raw psycopg connections (COPY, LISTEN)."""
    return sync_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url` (pre-ping on, so dropped connections are replaced)."""
    return create_engine(sync_url(url), pool_pre_ping=True, **kwargs)


class DatabaseUnavailableError(ConfigurationError):
    """PostgreSQL cannot be reached, or the database named in the URL does not exist."""


@dataclass(frozen=True)
class DatabaseAddress:
    """Where a database URL points: server (host:port, or a unix socket dir) and name."""

    server: str
    name: str

    @classmethod
    def of(cls, url: str) -> DatabaseAddress:
        """Parse `url` (SQLAlchemy or libpq form) into server and database name."""
        info = conninfo_to_dict(libpq_url(url))
        host = str(info.get("host") or "localhost")
        return cls(server=f"{host}:{info.get('port') or 5432}", name=str(info.get("dbname", "")))


def admin_url(url: str) -> str:
    """The libpq URL of the same server's maintenance database ("postgres")."""
    return libpq_url(
        make_url(sync_url(url)).set(database="postgres").render_as_string(hide_password=False)
    )


def connect_failure(url: str, exc: psycopg.OperationalError) -> DatabaseUnavailableError:
    """One line for a failed connection: the database is missing, or the server is not
    reachable (and why, in libpq's own words). Missing is told apart by asking the server's
    "postgres" database: libpq gives no SQLSTATE for a refused connection."""
    where = DatabaseAddress.of(url)
    try:
        with psycopg.connect(admin_url(url), connect_timeout=CONNECT_TIMEOUT_S) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            missing = conn.execute(query, (where.name,)).fetchone() is None
    except psycopg.Error:
        missing = False  # the server itself is the problem: say what libpq said
    if missing:
        return DatabaseUnavailableError(
            f'database "{where.name}" does not exist on PostgreSQL at {where.server}: '
            "create it with `datacoin db upgrade`"
        )
    # libpq's first line reads 'connection failed: connection to server at "h", port p
    # failed: <reason>'; the reason is what the reader needs, the address we say ourselves.
    reason = str(exc).splitlines()[0].rsplit("failed: ", 1)[-1].strip() if str(exc) else ""
    return DatabaseUnavailableError(
        f'cannot connect to PostgreSQL at {where.server} (database "{where.name}"): '
        f"{reason or type(exc).__name__}"
    )


def require_database(url: str) -> None:
    """Check that PostgreSQL answers at `url` and its database exists, else raise
    :class:`DatabaseUnavailableError` with one line saying which and where. Every command
    but `datacoin db upgrade` (the only one that creates databases) calls this first, so
    a mistyped URL fails loudly instead of serving an empty store."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.OperationalError as exc:
        raise connect_failure(url, exc) from exc
