"""SQLAlchemy 2 foundations: the declarative base, chain column types and engines."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Engine, LargeBinary, MetaData, create_engine
from sqlalchemy.dialects.postgresql import JSONB, NUMERIC
from sqlalchemy.orm import DeclarativeBase

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
