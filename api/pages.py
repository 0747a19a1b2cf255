"""One list shape: ``{items, next_cursor}`` with keyset cursors (opaque to clients: pass
``next_cursor`` back as ``cursor``; null on the last page)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="pass back as `cursor` for the next page; null on the last one"
    )
