"""One list shape: ``{items, next_cursor}`` with keyset cursors (opaque to clients: pass
``next_cursor`` back as ``cursor``; null on the last page)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from api.render import encode_cursor

Item = TypeVar("Item")
Fetched = TypeVar("Fetched")


class Page(BaseModel, Generic[Item]):
    """One page of a list."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="pass back as `cursor` for the next page; null on the last one"
    )


def paginate(
    rows: Sequence[Fetched],
    limit: int,
    *,
    item: Callable[[Fetched], Item],
    keyset: Callable[[Fetched], list[Any]],
) -> Page[Item]:
    """The page of `rows`, fetched with ``limit + 1`` so that a row past the page tells
    whether another follows; its cursor is the keyset of the page's last row."""
    page = rows[:limit]
    more = len(rows) > limit
    return Page[Item](
        items=[item(row) for row in page],
        next_cursor=encode_cursor(keyset(page[-1])) if more else None,
    )
