"""Block timestamps as timezone-aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)
def block_time(seconds: int) -> datetime:
    """A block timestamp (unix seconds) as an aware UTC datetime (cached: many events
    share a block)."""
    return datetime.fromtimestamp(seconds, UTC)
