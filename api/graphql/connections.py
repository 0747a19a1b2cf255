"""Cursor connections (edges, node, cursor, pageInfo) over the REST keyset pages.

An edge's cursor is the REST cursor of the rows after it: ``after: endCursor`` reads
the same next page as REST's ``cursor=next_cursor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry
from graphql import GraphQLError

from api.pages import KeysetPage
from api.queries import Row

Node = TypeVar("Node")
#: The most rows one connection reads (REST's `limit` bound).
MAX_FIRST = 100


@strawberry.type(description="Where a page ends and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="pass as `after` for the next page")


@strawberry.type
class Edge(Generic[Node]):
    node: Node
    cursor: str = strawberry.field(description="pass as `after` for the rows after this one")


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo


def page_size(first: int) -> int:
    """`first`, refused unless within 1..MAX_FIRST (one page never reads more)."""
    if not 1 <= first <= MAX_FIRST:
        raise GraphQLError(
            f"first must be between 1 and {MAX_FIRST}, not {first}",
            extensions={"code": "page.first_out_of_range"},
        )
    return first


def connection(page: KeysetPage[Row], node: Callable[[Row], Node]) -> Connection[Node]:
    """The connection of one page, each row rendered by `node`."""
    edges = [Edge(node=node(row), cursor=page.cursor_after(row)) for row in page.rows]
    end = edges[-1].cursor if edges else None
    return Connection(edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=end))
