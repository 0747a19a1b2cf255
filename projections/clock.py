"""Block timestamps as timezone-aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def block_time(seconds: int) -> datetime:
    """A block timestamp (unix seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)
