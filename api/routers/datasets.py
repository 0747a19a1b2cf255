"""GET /datasets (search, filters, sorts, keyset pagination) and GET /datasets/{id}."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.sql.expression import CTE, FromClause, Subquery
from sqlalchemy.sql.util import ClauseAdapter

from api.deps import ADDRESS, Pool, SettingsDep, parse_address, refuse_nul
from api.pages import KeysetPage
from api.queries import Row, compiled, exactly_one, fetch_all, view
from api.render import (
    CursorField,
    address,
    cursor_bigint,
    cursor_rating,
    cursor_uint256,
    decode_cursor,
    encode_cursor,
    hex0x,
)
from api.schemas import ERRORS, DatasetDetail, DatasetPage
from api.stored_documents import column_schema
from projections.datasets import DatasetCounterRow, DatasetRow
from projections.metadata import DatasetMetadata

router = APIRouter(tags=["datasets"])
UINT = r"^[0-9]{1,78}$"
#: The longest search text and category the filters take.
MAX_SEARCH = 200
MAX_CATEGORY = 32
_D = view(DatasetRow.__table__).alias("d")  # type: ignore[arg-type]
# A dataset's purchase count and rating: a row of their own, same key (every `datasets`
# row has one: the listing creates both). An inner join, so the planner can walk either
# table's sort index and probe the other by key.
_C = view(DatasetCounterRow.__table__).alias("c")  # type: ignore[arg-type]
_DC = _D.join(_C, and_(_C.c.chain_id == _D.c.chain_id, _C.c.dataset_id == _D.c.dataset_id))
_M = DatasetMetadata.__table__.alias("m")
# The expression of ix_dataset_counters_rating, as written there so the planner matches
# it: the constant inlined, and a plain `/` (SQLAlchemy's would cast the divisor to
# numeric). The index holds it negated: rating high to low, ids low to high, all one
# ascending key.
_RATING = cast(_C.c.rating_sum, DOUBLE_PRECISION).op("/", return_type=DOUBLE_PRECISION)(
    func.greatest(_C.c.rating_count, literal_column("1"))
)
_BY_RATING = -_RATING


class Sort(StrEnum):
    """Sort orders of GET /datasets."""

    newest = "newest"
    price = "price"
    purchases = "purchases"
    rating = "rating"


@dataclass(frozen=True)
class SortOrder:
    """One sort order: its key, direction and index; what a cursor's values must be."""

    key: ColumnElement[Any]
    descending: bool
    #: (chain_id, dataset_id) of the table whose index holds `key`: the keyset's row
    #: comparison must name that table's columns alone to be a range of its index.
    ids: tuple[ColumnElement[Any], ColumnElement[Any]]
    #: The cursor holds (sort key, chain_id, dataset_id); uint256 values as decimal strings.
    fields: tuple[CursorField, CursorField, CursorField]


_LISTING_IDS = (_D.c.chain_id, _D.c.dataset_id)
_COUNTER_IDS = (_C.c.chain_id, _C.c.dataset_id)
_SORTS = {
    Sort.newest: SortOrder(
        _D.c.listed_block, True, _LISTING_IDS, (cursor_bigint, cursor_bigint, cursor_uint256)
    ),
    Sort.price: SortOrder(
        _D.c.price, False, _LISTING_IDS, (cursor_uint256, cursor_bigint, cursor_uint256)
    ),
    Sort.purchases: SortOrder(
        _C.c.purchases, True, _COUNTER_IDS, (cursor_bigint, cursor_bigint, cursor_uint256)
    ),
    Sort.rating: SortOrder(
        _RATING, True, _COUNTER_IDS, (cursor_rating, cursor_bigint, cursor_uint256)
    ),
}

#: The filters of GET /datasets (and of one dataset's lookup), bound by name.
_FILTERS: dict[str, ColumnElement[bool]] = {
    "q": _M.c.search.op("@@")(
        func.websearch_to_tsquery(literal_column("'english'"), bindparam("q", type_=Text))
    ),
    "category": _D.c.category == bindparam("category"),
    "provider": _D.c.provider == bindparam("provider"),
    "min_price": _D.c.price >= bindparam("min_price"),
    "max_price": _D.c.price <= bindparam("max_price"),
    "status": _D.c.status == bindparam("status"),
    "chain_id": _D.c.chain_id == bindparam("chain_id"),
    "dataset_id": _D.c.dataset_id == bindparam("dataset_id"),
}

# What a dataset is read with: Dataset's columns, then the keyset column of `newest`.
# uint256 columns are cast to text: binary numerics would be parsed into Decimals only to
# be printed again.
_SELECT = select(
    _D.c.chain_id,
    cast(_D.c.dataset_id, Text).label("dataset_id"),
    _D.c.provider,
    cast(_D.c.price, Text).label("price"),
    _D.c.access_duration,
    _D.c.metadata_cid,
    _D.c.content_hash,
    _M.c.title,
    _M.c.description,
    _D.c.category,
    _M.c.format,
    _M.c.rows,
    _M.c["columns"],
    _C.c.purchases,
    _C.c.rating_sum,
    _C.c.rating_count,
    _D.c.status,
    _D.c.listed_at,
    # The dataset's last change, listing or counters; final when both rows are.
    func.greatest(_D.c.block_number, _C.c.block_number).label("block_number"),
    and_(_D.c.finalized, _C.c.finalized).label("finalized"),
    _D.c.listed_block,
).select_from(_DC.outerjoin(_M, _M.c.cid == _D.c.metadata_cid))


def dataset_item(row: Row) -> dict[str, Any]:
    """A row of _SELECT as the JSON-ready fields of `Dataset`, in its field order.

    GET /datasets serialises these with orjson instead of building a pydantic model per row
    (a third of the route's own CPU); tests/api check the result against the model.
    """
    rating_count = row["rating_count"]
    return {
        "chain_id": row["chain_id"],
        "dataset_id": row["dataset_id"],
        "provider": address(row["provider"]),
        "price": row["price"],
        "access_duration": row["access_duration"],
        "metadata_cid": row["metadata_cid"],
        "content_hash": hex0x(row["content_hash"]),
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "format": row["format"],
        "rows": row["rows"],
        "columns": row["columns"],
        "purchases": row["purchases"],
        "rating": round(row["rating_sum"] / rating_count, 4) if rating_count else None,
        "rating_count": rating_count,
        "status": row["status"],
        "listed_at": row["listed_at"],
        "block_number": row["block_number"],
        "finalized": row["finalized"],
    }


def _cursor_after(sort: Sort, row: Row) -> str:
    """The cursor of the page that follows `row`: its sort key, then (chain_id, dataset_id)."""
    first = {
        Sort.newest: row["listed_block"],
        Sort.price: row["price"],
        Sort.purchases: row["purchases"],
        Sort.rating: row["rating_sum"] / max(row["rating_count"], 1),
    }[sort]
    return encode_cursor([first, row["chain_id"], row["dataset_id"]])


def _after(order: SortOrder) -> ColumnElement[bool]:
    """Rows past the cursor's (`after_key`, `after_chain`, `after_id`) in `order`."""
    key: BindParameter[Any] = bindparam("after_key")
    chain: BindParameter[int] = bindparam("after_chain")
    dataset: BindParameter[int] = bindparam("after_id")
    if order.key is _RATING:  # the cursor holds the rating; the index, its negation
        return tuple_(_BY_RATING, *order.ids) > tuple_(-key, chain, dataset)
    keyset, cursor = tuple_(order.key, *order.ids), tuple_(key, chain, dataset)
    return keyset < cursor if order.descending else keyset > cursor


def _order_by(order: SortOrder) -> list[ColumnElement[Any]]:
    chain, dataset = order.ids
    if order.key is _RATING:
        return [_BY_RATING.asc(), chain.asc(), dataset.asc()]
    columns = (order.key, chain, dataset)
    return [c.desc() if order.descending else c.asc() for c in columns]


class Plan(StrEnum):
    """How a page of a search (`q`) is read: see ``SEARCH_WALK``."""

    direct = "direct"  # no search: the planner's plan (a walk of the sort order's index)
    walk = "walk"  # the first SEARCH_WALK datasets in the sort order, those that match
    matches = "matches"  # every dataset whose document matches, then ordered


#: A search first walks at most this many datasets in the page's order (after the other
#: filters and the cursor) and keeps those whose document matches: a word in a few
#: percent of documents fills a page within it. Fewer than a page found, it reads the
#: datasets of every matching document (the full-text index) and orders those. Either
#: way ~SEARCH_WALK rows at most for any word whose matches a walk cannot find quickly,
#: instead of a walk of every dataset: the planner cannot tell by itself, as it takes a
#: word it has no statistics for to match 0.5% of documents, and walked the whole index
#: for a rare or absent one (3-5 s at 1M datasets).
SEARCH_WALK = 5_000
_FOUND = _M.alias("found")


@lru_cache(maxsize=4096)
def _statement(
    schema: str,
    filters: tuple[str, ...],
    sort: Sort | None,
    keyset: bool,
    plan: Plan = Plan.direct,
    limit: int | None = None,
) -> str:
    """The SELECT for one combination of filters and sort (a few dozen exist), built once:
    a page (`sort`: ordered, `limit` rows; `keyset`: after a cursor) or every match
    (None), read as `plan` says.

    The page's LIMIT is written into the statement, not bound: with a bound LIMIT the
    server's generic plan cannot know a page is small and costs more than a custom one,
    so PostgreSQL planned every execution afresh (0.7-1.9 ms of planning at 1M datasets
    against 0.3 ms of execution). With the LIMIT fixed, the prepared statement's generic
    plan is the page's plan and is reused."""
    statement = _SELECT.where(*(_FILTERS[name] for name in filters))
    if sort is not None:
        assert limit is not None, "a page has a limit"
        order = _SORTS[sort]
        if keyset:
            statement = statement.where(_after(order))
        page_rows: ColumnElement[Any] = literal_column(str(int(limit)))
        statement = statement.order_by(*_order_by(order)).limit(page_rows)
        if plan is Plan.walk:
            walked = _walked(filters, order, keyset)
            statement = _over(walked, statement)
    if plan is Plan.matches:
        statement = _over(_matched(), statement)
    return compiled(statement, schema)


def _walked(filters: tuple[str, ...], order: SortOrder, keyset: bool) -> Subquery:
    """The first SEARCH_WALK datasets in `order` that pass the filters but the search."""
    # (The rating key as a column of its own: the outer order is then that column, which
    # the planner knows is already in order; as an expression it sorted every row.)
    walked = select(_D, _C, _BY_RATING.label("by_rating")).select_from(_DC)
    walked = walked.where(*(_FILTERS[n] for n in filters if n != "q"))
    if keyset:
        walked = walked.where(_after(order))
    return (
        walked.order_by(*_order_by(order))
        .limit(literal_column(str(SEARCH_WALK)))
        .subquery("walked")
    )


def _matched() -> CTE:
    """The datasets whose document matches the search (the full-text index, then
    ix_datasets_metadata_cid), materialised: the planner cannot walk a sort index instead."""
    return (
        select(_D, _C)
        .select_from(_DC.join(_FOUND, _FOUND.c.cid == _D.c.metadata_cid))
        .where(_FOUND.c.search.op("@@")(_FILTERS["q"].right))
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )


def _over(datasets: FromClause, statement: Select[Any]) -> Select[Any]:
    """`statement` reading `datasets` (rows of the datasets and counters views, joined:
    selected from ``_DC`` itself) in place of that join; the documents' alias `m` stays
    itself."""
    documents = {_M, DatasetMetadata.__table__}
    adapter = ClauseAdapter(
        datasets, exclude_fn=lambda e: e in documents or getattr(e, "table", None) in documents
    )
    return adapter.traverse(statement)


@dataclass(frozen=True, kw_only=True)
class DatasetFilter:
    """The filters of a datasets page, as the client spelled them (None: not filtered)."""

    q: str | None = None
    category: str | None = None
    provider: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    status: str | None = None
    chain_id: int | None = None

    def params(self) -> dict[str, object]:
        """The bound parameters of the filters given (400 when one cannot match)."""
        refuse_nul(q=self.q, category=self.category)
        given = {
            "q": self.q or None,
            "category": self.category or None,
            "provider": parse_address(self.provider) if self.provider else None,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "status": self.status or None,
            "chain_id": self.chain_id,
        }
        return {k: v for k, v in given.items() if v is not None}


async def read_datasets(
    pool: Pool,
    settings: SettingsDep,
    filters: DatasetFilter,
    *,
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> KeysetPage[Row]:
    """A page of datasets (rows of `_SELECT`: render with `dataset_item`), after `cursor`."""
    params = filters.params()
    names = tuple(params)
    if cursor:
        values = decode_cursor(cursor, _SORTS[sort].fields)
        params.update(zip(("after_key", "after_chain", "after_id"), values, strict=True))
    schema, keyset, fetched = settings.read_schema, bool(cursor), limit + 1
    if "q" not in params:
        statement = _statement(schema, names, sort, keyset, limit=fetched)
        rows = await fetch_all(pool, statement, params)
    else:  # a page from the first datasets in order, else from every match (SEARCH_WALK)
        statement = _statement(schema, names, sort, keyset, Plan.walk, fetched)
        rows = await fetch_all(pool, statement, params)
        if len(rows) <= limit:
            statement = _statement(schema, names, sort, keyset, Plan.matches, fetched)
            rows = await fetch_all(pool, statement, params)
    return KeysetPage.of(rows, limit=limit, cursor_after=lambda row: _cursor_after(sort, row))


@router.get("/datasets", name="list", response_model=DatasetPage, responses=ERRORS)
async def list_datasets(
    pool: Pool,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=MAX_SEARCH, description="Full-text search")] = None,
    category: Annotated[str | None, Query(max_length=MAX_CATEGORY)] = None,
    provider: Annotated[
        str | None, Query(pattern=ADDRESS.pattern, description="0x address")
    ] = None,
    min_price: Annotated[str | None, Query(pattern=UINT, description="wei")] = None,
    max_price: Annotated[str | None, Query(pattern=UINT, description="wei")] = None,
    status: Annotated[str | None, Query(pattern="^(listed|delisted)$")] = None,
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    sort: Sort = Sort.newest,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> DatasetPage:
    """Search and browse datasets. Cursor pagination: pass `next_cursor` as `cursor`."""
    filters = DatasetFilter(
        q=q,
        category=category,
        provider=provider,
        min_price=None if min_price is None else int(min_price),
        max_price=None if max_price is None else int(max_price),
        status=status,
        chain_id=chain_id,
    )
    page = await read_datasets(pool, settings, filters, sort=sort, limit=limit, cursor=cursor)
    body = {"items": [dataset_item(r) for r in page.rows], "next_cursor": page.next_cursor}
    # Serialised here, once: FastAPI would validate the page again against response_model.
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),  # type: ignore[return-value]
        media_type="application/json",
    )


@router.get("/datasets/{dataset_id}", name="get", response_model=DatasetDetail, responses=ERRORS)
async def get_dataset(
    pool: Pool,
    settings: SettingsDep,
    dataset_id: Annotated[str, Path(pattern=UINT)],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> DatasetDetail:
    """One dataset; pass `chain_id` when several chains are indexed."""
    dataset = exactly_one(
        await find_datasets(pool, settings, int(dataset_id), chain_id),
        kind="dataset",
        ident=dataset_id,
    )
    columns = await column_schema(pool, settings.read_schema, dataset["metadata_cid"])
    return DatasetDetail.model_validate({**dataset, "column_schema": columns})


async def find_datasets(
    pool: Pool, settings: SettingsDep, dataset_id: int, chain_id: int | None
) -> list[dict[str, Any]]:
    """Dataset `dataset_id` (on `chain_id`, or on every chain), as `dataset_item`s."""
    params: dict[str, Any] = {"dataset_id": dataset_id}
    if chain_id is not None:
        params["chain_id"] = chain_id
    statement = _statement(settings.read_schema, tuple(params), None, False)
    return [dataset_item(row) for row in await fetch_all(pool, statement, params)]


async def provider_listings(pool: Pool, schema: str, provider: bytes, limit: int) -> DatasetPage:
    """The first page of `provider`'s datasets, newest first (its `next_cursor` continues
    on GET /datasets?provider=...)."""
    params: dict[str, object] = {"provider": provider}
    statement = _statement(schema, ("provider",), Sort.newest, False, limit=limit + 1)
    rows = await fetch_all(pool, statement, params)
    page = rows[:limit]
    return DatasetPage.model_validate(
        {
            "items": [dataset_item(r) for r in page],
            "next_cursor": _cursor_after(Sort.newest, page[-1]) if len(rows) > limit else None,
        }
    )
