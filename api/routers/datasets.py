"""GET /datasets (search, filters, sorts, keyset pagination) and GET /datasets/{id}."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response
from psycopg import sql

from api.deps import ADDRESS, Pool, SettingsDep, parse_address, refuse_nul, table
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

router = APIRouter(tags=["datasets"])
UINT = r"^[0-9]{1,78}$"
RATING = "(d.rating_sum::float8 / greatest(d.rating_count, 1))"


class Sort(StrEnum):
    """Sort orders of GET /datasets."""

    newest = "newest"
    price = "price"
    purchases = "purchases"
    rating = "rating"


# sort -> (ORDER BY, what each keyset value of a cursor must be, keyset comparison). A
# cursor holds (sort key, chain_id, dataset_id); uint256 values travel as decimal strings.
_SORTS: dict[Sort, tuple[str, tuple[CursorField, ...], str]] = {
    Sort.newest: (
        "d.listed_block DESC, d.chain_id DESC, d.dataset_id DESC",
        (cursor_bigint, cursor_bigint, cursor_uint256),
        "(d.listed_block, d.chain_id, d.dataset_id) < (%s, %s, %s)",
    ),
    Sort.price: (
        "d.price ASC, d.chain_id ASC, d.dataset_id ASC",
        (cursor_uint256, cursor_bigint, cursor_uint256),
        "(d.price, d.chain_id, d.dataset_id) > (%s, %s, %s)",
    ),
    Sort.purchases: (
        "d.purchases DESC, d.chain_id DESC, d.dataset_id DESC",
        (cursor_bigint, cursor_bigint, cursor_uint256),
        "(d.purchases, d.chain_id, d.dataset_id) < (%s, %s, %s)",
    ),
    Sort.rating: (
        f"{RATING} DESC, d.chain_id ASC, d.dataset_id ASC",
        (cursor_rating, cursor_bigint, cursor_uint256),
        f"({RATING} < %s OR ({RATING} = %s AND (d.chain_id, d.dataset_id) > (%s, %s)))",
    ),
}

# What a dataset is read with, in Dataset's field order (`dataset_item` unpacks it), then the
# keyset column of `newest`. Rows come in binary format (no hex for bytea, no text for
# timestamps and integers: less work on both sides), except uint256 columns, cast to text:
# binary numerics would be parsed into Decimals only to be printed again.
SELECT = (
    "SELECT d.chain_id, d.dataset_id::text, d.provider, d.price::text, d.access_duration,"
    " d.metadata_cid, d.content_hash, m.title, m.description, d.category, m.format, m.rows,"
    " m.columns, d.purchases, d.rating_sum, d.rating_count, d.status, d.listed_at,"
    " d.block_number, d.finalized, d.listed_block"
    " FROM {datasets} d LEFT JOIN dataset_metadata m ON m.cid = d.metadata_cid"
)
_PRICE, _PURCHASES, _RATING_SUM, _RATING_COUNT, _LISTED_BLOCK = 3, 13, 14, 15, 20


def dataset_item(row: Sequence[Any]) -> dict[str, Any]:
    """A row of SELECT as the JSON-ready fields of `Dataset`, in its field order.

    GET /datasets serialises these with orjson instead of building a pydantic model per row
    (a third of the route's own CPU); tests/api check the result against the model.
    """
    (
        chain_id,
        dataset_id,
        provider,
        price,
        access_duration,
        metadata_cid,
        content_hash,
        title,
        description,
        category,
        fmt,
        rows,
        columns,
        purchases,
        rating_sum,
        rating_count,
        status,
        listed_at,
        block_number,
        finalized,
    ) = row[:20]
    return {
        "chain_id": chain_id,
        "dataset_id": dataset_id,
        "provider": address(provider),
        "price": price,
        "access_duration": access_duration,
        "metadata_cid": metadata_cid,
        "content_hash": hex0x(content_hash),
        "title": title,
        "description": description,
        "category": category,
        "format": fmt,
        "rows": rows,
        "columns": columns,
        "purchases": purchases,
        "rating": round(rating_sum / rating_count, 4) if rating_count else None,
        "rating_count": rating_count,
        "status": status,
        "listed_at": listed_at,
        "block_number": block_number,
        "finalized": finalized,
    }


def _cursor_after(sort: Sort, row: Sequence[Any]) -> str:
    """The cursor of the page that follows `row`: its sort key, then (chain_id, dataset_id)."""
    first = {
        Sort.newest: row[_LISTED_BLOCK],
        Sort.price: row[_PRICE],
        Sort.purchases: row[_PURCHASES],
        Sort.rating: row[_RATING_SUM] / max(row[_RATING_COUNT], 1),
    }[sort]
    return encode_cursor([first, row[0], row[1]])


@lru_cache(maxsize=1024)
def _statement(schema: str, filters: tuple[str, ...], sort: Sort) -> sql.Composed:
    """The SELECT for one combination of filters and sort (a few dozen exist), built once."""
    order = _SORTS[sort][0]
    query = SELECT + (" WHERE " + " AND ".join(filters) if filters else "")
    query += f" ORDER BY {order} LIMIT %s"
    return sql.SQL(query).format(datasets=sql.Identifier(schema, "datasets_v"))


@router.get("/datasets", response_model=DatasetPage, responses=ERRORS)
async def list_datasets(
    pool: Pool,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
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
    refuse_nul(q=q, category=category)
    where: list[str] = []
    params: list[Any] = []
    if q:
        where.append("m.search @@ websearch_to_tsquery('english', %s)")
        params.append(q)
    if category:
        where.append("d.category = %s")
        params.append(category)
    if provider:
        where.append("d.provider = %s")
        params.append(parse_address(provider))
    if min_price is not None:
        where.append("d.price >= %s")
        params.append(int(min_price))
    if max_price is not None:
        where.append("d.price <= %s")
        params.append(int(max_price))
    if status:
        where.append("d.status = %s")
        params.append(status)
    if chain_id is not None:
        where.append("d.chain_id = %s")
        params.append(chain_id)
    _, fields, after = _SORTS[sort]
    if cursor:
        values = decode_cursor(cursor, fields)
        where.append(after)
        params.extend(
            [values[0], values[0], values[1], values[2]] if sort is Sort.rating else values
        )
    params.append(limit + 1)
    statement = _statement(settings.read_schema, tuple(where), sort)
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(statement, params, binary=True)
        rows = await cur.fetchall()
    page = rows[:limit]
    body = {
        "items": [dataset_item(r) for r in page],
        "next_cursor": _cursor_after(sort, page[-1]) if len(rows) > limit else None,
    }
    # Serialised here, once: FastAPI would validate the page again against response_model.
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),  # type: ignore[return-value]
        media_type="application/json",
    )


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail, responses=ERRORS)
async def get_dataset(
    pool: Pool,
    settings: SettingsDep,
    dataset_id: Annotated[str, Path(pattern=UINT)],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> DatasetDetail:
    """One dataset; pass `chain_id` when several chains are indexed."""
    rows = await find_datasets(pool, settings, int(dataset_id), chain_id)
    if not rows:
        raise HTTPException(404, f"dataset {dataset_id} not found")
    if len(rows) > 1:
        chains = sorted(r["chain_id"] for r in rows)
        raise HTTPException(400, f"dataset {dataset_id} exists on chains {chains}: pass chain_id")
    columns = await column_schema(pool, rows[0]["metadata_cid"])
    return DatasetDetail.model_validate({**rows[0], "column_schema": columns})


async def find_datasets(
    pool: Pool, settings: SettingsDep, dataset_id: int, chain_id: int | None
) -> list[dict[str, Any]]:
    """Dataset `dataset_id` (on `chain_id`, or on every chain), as `dataset_item`s."""
    query = (
        SELECT
        + " WHERE d.dataset_id = %s"
        + (" AND d.chain_id = %s" if chain_id is not None else "")
    )
    params: list[Any] = [dataset_id] + ([chain_id] if chain_id is not None else [])
    statement = sql.SQL(query).format(datasets=table(settings, "datasets_v"))
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(statement, params, binary=True)
        return [dataset_item(r) for r in await cur.fetchall()]
