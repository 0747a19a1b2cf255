"""GET /accounts/{address}, /accounts/{address}/purchases and /stakes/{address}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import ADDRESS, Pool, SettingsDep, parse_address, table
from api.render import address as checksum
from api.render import cursor_bigint, decode_cursor, encode_cursor, hex0x, uint
from api.schemas import ERRORS, Account, Activity, Purchase, PurchasePage, Stake

router = APIRouter(tags=["accounts"])
AddressPath = Annotated[str, Path(pattern=ADDRESS.pattern, description="0x address")]


def to_stake(row: dict[str, Any]) -> Stake:
    """A stakes_v row as the API model."""
    return Stake(
        chain_id=row["chain_id"],
        account=checksum(row["account"]) or "",
        staked=uint(row["staked"]) or "0",
        pending=uint(row["pending"]) or "0",
        available_at=row["available_at"],
        withdrawn=uint(row["withdrawn"]) or "0",
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


async def _stakes(pool: Pool, settings: SettingsDep, account: bytes) -> list[Stake]:
    statement = sql.SQL("SELECT * FROM {} WHERE account = %s ORDER BY chain_id").format(
        table(settings, "stakes_v")
    )
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, [account])
        return [to_stake(r) for r in await cur.fetchall()]


@router.get("/stakes/{address}", response_model=list[Stake], responses=ERRORS)
async def get_stakes(pool: Pool, settings: SettingsDep, address: AddressPath) -> list[Stake]:
    """The account's stake on every indexed chain (empty when it never staked)."""
    return await _stakes(pool, settings, parse_address(address))


@router.get("/accounts/{address}", response_model=Account, responses=ERRORS)
async def get_account(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    activity_limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Account:
    """Counts, stakes and the latest activity of an account."""
    raw = parse_address(address)
    counts = sql.SQL(
        "SELECT (SELECT count(*) FROM {d} WHERE provider = %s) AS listed,"
        " (SELECT count(*) FROM {p} WHERE buyer = %s) AS bought"
    ).format(d=table(settings, "datasets"), p=table(settings, "purchases"))
    recent = sql.SQL(
        "SELECT * FROM {} WHERE account = %s ORDER BY block_number DESC, log_index DESC LIMIT %s"
    ).format(table(settings, "account_activity_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(counts, [raw, raw])
        listed, bought = (await cur.fetchone() or {}).values()
        await cur.execute(recent, [raw, activity_limit])
        activity = [
            Activity(
                chain_id=r["chain_id"],
                event=r["event_name"],
                role=r["role"],
                dataset_id=uint(r["dataset_id"]),
                job_id=uint(r["job_id"]),
                amount=uint(r["amount"]),
                tx_hash=hex0x(r["tx_hash"]) or "",
                occurred_at=r["occurred_at"],
                block_number=r["block_number"],
                finalized=r["finalized"],
            )
            for r in await cur.fetchall()
        ]
    return Account(
        address=address_of(raw),
        datasets_listed=listed,
        purchases=bought,
        stakes=await _stakes(pool, settings, raw),
        recent_activity=activity,
    )


def address_of(raw: bytes) -> str:
    """EIP-55 form."""
    return checksum(raw) or ""


@router.get("/accounts/{address}/purchases", response_model=PurchasePage, responses=ERRORS)
async def get_purchases(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PurchasePage:
    """The account's purchases, newest first."""
    where = "buyer = %s"
    params: list[Any] = [parse_address(address)]
    if cursor:
        # (block_number, chain_id, log_index): the keyset of the last row of a page
        where += " AND (block_number, chain_id, log_index) < (%s, %s, %s)"
        params += decode_cursor(cursor, [cursor_bigint] * 3)
    statement = sql.SQL(
        "SELECT * FROM {} WHERE "
        + where
        + " ORDER BY block_number DESC, chain_id DESC, log_index DESC LIMIT %s"
    ).format(table(settings, "purchases_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, [*params, limit + 1])
        rows = await cur.fetchall()
    page = rows[:limit]
    items = [
        Purchase(
            chain_id=r["chain_id"],
            dataset_id=str(r["dataset_id"]),
            buyer=checksum(r["buyer"]) or "",
            provider=checksum(r["provider"]) or "",
            price=uint(r["price"]) or "0",
            fee=uint(r["fee"]) or "0",
            expires_at=r["expires_at"],
            tx_hash=hex0x(r["tx_hash"]) or "",
            purchased_at=r["purchased_at"],
            block_number=r["block_number"],
            finalized=r["finalized"],
        )
        for r in page
    ]
    last = page[-1] if page else None
    next_cursor = (
        encode_cursor([last["block_number"], last["chain_id"], last["log_index"]])
        if last is not None and len(rows) > limit
        else None
    )
    return PurchasePage(items=items, next_cursor=next_cursor)
