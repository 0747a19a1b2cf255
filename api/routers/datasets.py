"""GET /datasets (search, filters, sorts, keyset pagination) and GET /datasets/{id}."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import ADDRESS, Pool, SettingsDep, parse_address, table
from api.render import address, decode_cursor, encode_cursor, hex0x, uint
from api.schemas import ERRORS, Dataset, DatasetPage

router = APIRouter(tags=["datasets"])
UINT = r"^[0-9]{1,78}$"
RATING = "(d.rating_sum::float8 / greatest(d.rating_count, 1))"


class Sort(StrEnum):
    """Sort orders of GET /datasets."""

    newest = "newest"
    price = "price"
    purchases = "purchases"
    rating = "rating"


# sort -> (ORDER BY, keyset columns, keyset comparison on those columns)
_SORTS: dict[Sort, tuple[str, list[str], str]] = {
    Sort.newest: ("d.listed_block DESC, d.chain_id DESC, d.dataset_id DESC",
                  ["d.listed_block", "d.chain_id", "d.dataset_id"],
                  "(d.listed_block, d.chain_id, d.dataset_id) < (%s, %s, %s)"),
    Sort.price: ("d.price ASC, d.chain_id ASC, d.dataset_id ASC",
                 ["d.price", "d.chain_id", "d.dataset_id"],
                 "(d.price, d.chain_id, d.dataset_id) > (%s, %s, %s)"),
    Sort.purchases: ("d.purchases DESC, d.chain_id DESC, d.dataset_id DESC",
                     ["d.purchases", "d.chain_id", "d.dataset_id"],
                     "(d.purchases, d.chain_id, d.dataset_id) < (%s, %s, %s)"),
    Sort.rating: (f"{RATING} DESC, d.chain_id ASC, d.dataset_id ASC",
                  [RATING, "d.chain_id", "d.dataset_id"],
                  f"({RATING} < %s OR ({RATING} = %s AND (d.chain_id, d.dataset_id) > (%s, %s)))"),
}  # fmt: skip

SELECT = (
    "SELECT d.*, m.title, m.description, m.format, m.rows, m.columns"
    " FROM {datasets} d LEFT JOIN dataset_metadata m ON m.cid = d.metadata_cid"
)


def to_dataset(row: dict[str, Any]) -> Dataset:
    """A joined datasets_v + metadata row as the API model."""
    count = row["rating_count"]
    return Dataset(
        chain_id=row["chain_id"], dataset_id=str(row["dataset_id"]),
        provider=address(row["provider"]) or "", price=uint(row["price"]) or "0",
        access_duration=row["access_duration"], metadata_cid=row["metadata_cid"],
        content_hash=hex0x(row["content_hash"]) or "", title=row["title"],
        description=row["description"], category=row["category"], format=row["format"],
        rows=row["rows"], columns=row["columns"], purchases=row["purchases"],
        rating=round(row["rating_sum"] / count, 4) if count else None, rating_count=count,
        status=row["status"], listed_at=row["listed_at"], block_number=row["block_number"],
        finalized=row["finalized"],
    )  # fmt: skip


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
    order, keys, after = _SORTS[sort]
    if cursor:
        # uint256 values travel as decimal strings: bind them as ints (psycopg picks numeric
        # past 2**63), never as text, so PostgreSQL compares numbers.
        values = [int(v) if isinstance(v, str) and v.isdigit() else v
                  for v in decode_cursor(cursor, len(keys))]  # fmt: skip
        if not all(isinstance(v, int | float) for v in values):
            raise HTTPException(400, "invalid cursor: pass back next_cursor unchanged")
        where.append(after)
        params.extend([values[0], values[0], values[1], values[2]] if sort is Sort.rating
                      else values)  # fmt: skip
    query = SELECT + (" WHERE " + " AND ".join(where) if where else "")
    query += f" ORDER BY {order} LIMIT %s"
    params.append(limit + 1)
    statement = sql.SQL(query).format(datasets=table(settings, "datasets_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        first = {
            Sort.newest: last["listed_block"], Sort.price: str(last["price"]),
            Sort.purchases: last["purchases"],
            Sort.rating: last["rating_sum"] / max(last["rating_count"], 1),
        }[sort]  # fmt: skip
        next_cursor = encode_cursor([first, last["chain_id"], str(last["dataset_id"])])
    body = DatasetPage.model_construct(items=[to_dataset(r) for r in page], next_cursor=next_cursor)
    # Serialise once here: FastAPI would validate the page again against response_model.
    return Response(body.model_dump_json(), media_type="application/json")  # type: ignore[return-value]


@router.get("/datasets/{dataset_id}", response_model=Dataset, responses=ERRORS)
async def get_dataset(
    pool: Pool,
    settings: SettingsDep,
    dataset_id: Annotated[str, Path(pattern=UINT)],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Dataset:
    """One dataset; pass `chain_id` when several chains are indexed."""
    rows = await find_datasets(pool, settings, int(dataset_id), chain_id)
    if not rows:
        raise HTTPException(404, f"dataset {dataset_id} not found")
    if len(rows) > 1:
        chains = sorted(r["chain_id"] for r in rows)
        raise HTTPException(400, f"dataset {dataset_id} exists on chains {chains}: pass chain_id")
    return to_dataset(rows[0])


async def find_datasets(
    pool: Pool, settings: SettingsDep, dataset_id: int, chain_id: int | None
) -> list[dict[str, Any]]:
    """Rows of dataset `dataset_id` (on `chain_id`, or on every chain)."""
    query = (
        SELECT
        + " WHERE d.dataset_id = %s"
        + (" AND d.chain_id = %s" if chain_id is not None else "")
    )
    params: list[Any] = [dataset_id] + ([chain_id] if chain_id is not None else [])
    statement = sql.SQL(query).format(datasets=table(settings, "datasets_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
        return rows
