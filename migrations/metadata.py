"""The metadata alembic compares against: every table module must be imported here."""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Import every model module (registering its tables) and return the shared metadata."""
    import indexer.schema  # noqa: F401
    import projections.metadata  # noqa: F401
    from common.db import Base

    return Base.metadata
