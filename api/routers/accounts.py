"""GET /accounts/{address}, its /purchases and /activity, and /stakes/{address}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import ColumnElement, bindparam, func, literal_column, select

from api.account_profiles import profile_of
from api.deps import ADDRESS, Pool, SettingsDep, parse_address
from api.pages import KeysetPage, Page
from api.queries import CompiledQuery, KeyColumn, NewestFirst, Row, read_table, view
from api.render import address as checksum
from api.render import hex0x, uint
from api.routers.datasets import provider_listings
from api.schemas import ERRORS, Account, Activity, CursorParam, Limit, Purchase, Stake
from projections.account_totals import AccountTotalsRow
from projections.activity import ActivityRow
from projections.purchases import PurchaseRow
from projections.stakes import StakeRow

router = APIRouter(tags=["accounts"])
AddressPath = Annotated[str, Path(pattern=ADDRESS.pattern, description="0x address")]

_STAKES = view(StakeRow.__table__)  # type: ignore[arg-type]
_STAKES_OF = CompiledQuery(
    select(_STAKES).where(_STAKES.c.account == bindparam("account")).order_by(_STAKES.c.chain_id)
)
# An account's totals: one row per chain (projections/account_totals.py), whatever its
# history (counting its purchases took 20 ms at 100k of them).
_TOTALS = read_table(AccountTotalsRow.__table__)  # type: ignore[arg-type]
_ZERO: ColumnElement[int] = literal_column("0")
_COUNTS = CompiledQuery(
    select(
        func.coalesce(func.sum(_TOTALS.c.datasets_listed), _ZERO).label("listed"),
        func.coalesce(func.sum(_TOTALS.c.purchases), _ZERO).label("bought"),
        func.coalesce(func.sum(_TOTALS.c.training_jobs), _ZERO).label("jobs"),
    ).where(_TOTALS.c.account == bindparam("account"))
)
_ACTIVITY = view(ActivityRow.__table__)  # type: ignore[arg-type]
# Newest first; the account's index orders by (block_number, log_index).
_ACTIVITY_LIST = NewestFirst(
    select(_ACTIVITY),
    [
        KeyColumn(column=c)
        for c in (_ACTIVITY.c.block_number, _ACTIVITY.c.log_index, _ACTIVITY.c.chain_id)
    ],
    {"account": lambda q: q.where(_ACTIVITY.c.account == bindparam("account"))},
)
_PURCHASES = view(PurchaseRow.__table__)  # type: ignore[arg-type]
# Newest first.
_PURCHASE_LIST = NewestFirst(
    select(_PURCHASES),
    [
        KeyColumn(column=c)
        for c in (_PURCHASES.c.block_number, _PURCHASES.c.chain_id, _PURCHASES.c.log_index)
    ],
    {"buyer": lambda q: q.where(_PURCHASES.c.buyer == bindparam("buyer"))},
)


def to_stake(row: Row) -> Stake:
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


async def stakes_of(pool: Pool, settings: SettingsDep, account: bytes) -> list[Stake]:
    """The account's stake on every indexed chain."""
    rows = await _STAKES_OF.all(pool, settings.read_schema, {"account": account})
    return [to_stake(r) for r in rows]


@router.get("/stakes/{address}", name="stakes", response_model=list[Stake], responses=ERRORS)
async def get_stakes(pool: Pool, settings: SettingsDep, address: AddressPath) -> list[Stake]:
    """The account's stake on every indexed chain (empty when it never staked)."""
    return await stakes_of(pool, settings, parse_address(address))


@router.get("/accounts/{address}", name="get", response_model=Account, responses=ERRORS)
async def get_account(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    activity_limit: Annotated[int, Query(ge=1, le=100)] = 20,
    listings_limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Account:
    """Profile, counts, stakes, its newest listings and the latest activity of an account."""
    raw, schema = parse_address(address), settings.read_schema
    counts = await account_counts(pool, settings, raw)
    return Account(
        address=address_of(raw),
        datasets_listed=counts["listed"],
        purchases=counts["bought"],
        stakes=await stakes_of(pool, settings, raw),
        recent_activity=await recent_activity(pool, settings, raw, limit=activity_limit),
        profile=await profile_of(pool, schema, raw),
        training_jobs=counts["jobs"],
        listings=await provider_listings(pool, schema, raw, listings_limit),
    )


async def account_counts(pool: Pool, settings: SettingsDep, account: bytes) -> Row:
    """How many datasets the account `listed` and `bought`, and its training `jobs`."""
    return (await _COUNTS.all(pool, settings.read_schema, {"account": account}))[0]


async def recent_activity(
    pool: Pool, settings: SettingsDep, account: bytes, *, limit: int
) -> list[Activity]:
    """The account's latest `limit` events, newest first."""
    page = await _ACTIVITY_LIST.read(
        pool, settings.read_schema, {"account": account}, limit=limit, cursor=None
    )
    return [to_activity(row) for row in page.rows]


def to_activity(row: Row) -> Activity:
    """An account_activity_v row as the API model."""
    return Activity(
        chain_id=row["chain_id"],
        event=row["event_name"],
        role=row["role"],
        dataset_id=uint(row["dataset_id"]),
        job_id=uint(row["job_id"]),
        amount=uint(row["amount"]),
        tx_hash=hex0x(row["tx_hash"]) or "",
        occurred_at=row["occurred_at"],
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


def to_purchase(row: Row) -> Purchase:
    """A purchases_v row as the API model."""
    return Purchase(
        chain_id=row["chain_id"],
        dataset_id=str(row["dataset_id"]),
        buyer=checksum(row["buyer"]) or "",
        provider=checksum(row["provider"]) or "",
        price=uint(row["price"]) or "0",
        fee=uint(row["fee"]) or "0",
        expires_at=row["expires_at"],
        tx_hash=hex0x(row["tx_hash"]) or "",
        purchased_at=row["purchased_at"],
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


def address_of(raw: bytes) -> str:
    """EIP-55 form."""
    return checksum(raw) or ""


@router.get(
    "/accounts/{address}/purchases",
    name="purchases",
    response_model=Page[Purchase],
    responses=ERRORS,
)
async def get_purchases(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Purchase]:
    """The account's purchases, newest first."""
    buyer = parse_address(address)
    page = await read_purchases(pool, settings, buyer, limit=limit, cursor=cursor)
    return page.render(to_purchase)


async def read_purchases(
    pool: Pool, settings: SettingsDep, buyer: bytes, *, limit: int, cursor: str | None
) -> KeysetPage[Row]:
    """A page of the buyer's purchases (purchases_v rows), newest first, after `cursor`."""
    filters = {"buyer": buyer}
    return await _PURCHASE_LIST.read(
        pool, settings.read_schema, filters, limit=limit, cursor=cursor
    )


@router.get(
    "/accounts/{address}/activity",
    name="activity",
    response_model=Page[Activity],
    responses=ERRORS,
)
async def get_activity(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Activity]:
    """Everything the account did or received, newest first."""
    filters = {"account": parse_address(address)}
    page = await _ACTIVITY_LIST.read(
        pool, settings.read_schema, filters, limit=limit, cursor=cursor
    )
    return page.render(to_activity)
