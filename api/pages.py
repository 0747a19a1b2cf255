"""One list shape: ``{items, next_cursor}`` with keyset cursors (opaque to clients: pass
``next_cursor`` back as ``cursor``; null on the last page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

Item = TypeVar("Item")
Fetched = TypeVar("Fetched")


class Page(BaseModel, Generic[Item]):
    """One page of a list."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="pass back as `cursor` for the next page; null on the last one"
    )


@dataclass(frozen=True)
class KeysetPage(Generic[Fetched]):
    """One page of rows as read (fetched with ``LIMIT limit + 1``: the extra row says more
    follow), before REST or GraphQL renders it.

    `cursor_after(row)` is the keyset cursor of the rows that follow `row`: REST hands
    the last row's out as ``next_cursor``, GraphQL every row's as its edge cursor.
    """

    rows: list[Fetched]
    has_next: bool
    cursor_after: Callable[[Fetched], str]

    @classmethod
    def of(
        cls, rows: list[Fetched], *, limit: int, cursor_after: Callable[[Fetched], str]
    ) -> KeysetPage[Fetched]:
        """The page of `rows`, read with ``LIMIT limit + 1``."""
        return cls(rows=rows[:limit], has_next=len(rows) > limit, cursor_after=cursor_after)

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page; None on the last one."""
        return self.cursor_after(self.rows[-1]) if self.has_next else None

    def render(self, item: Callable[[Fetched], Item]) -> Page[Item]:
        """The page as the REST list shape, each row made an `item`."""
        return Page[Item](items=[item(row) for row in self.rows], next_cursor=self.next_cursor)
