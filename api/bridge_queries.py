"""Bridge reads, shared by REST (api/routers/bridge.py) and `datacoin verify bridge`.

A transfer is its send (on the source chain) joined with its delivery (on the destination)
by message id. Its state is computed here from those rows and the source chain's indexed
head, never stored: ``delivered`` once the destination emitted the delivery, else ``final``
once the send's block is final (the relayers carry it), else ``pending``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, func, literal_column, or_, select

from api.deps import Pool
from api.pages import KeysetPage
from api.queries import CompiledQuery, KeyColumn, NewestFirst, Row, read_table, view
from common.settings import Settings
from indexer.schema import Cursor
from projections.bridge import BridgeDeliveryRow, BridgeSendRow

#: The states a transfer can be in, in the order it goes through them.
STATES = ("pending", "final", "delivered")

_S = view(BridgeSendRow.__table__)  # type: ignore[arg-type]
_D = read_table(BridgeDeliveryRow.__table__)  # type: ignore[arg-type]
_C = Cursor.__table__
_STATE = case(
    (_D.c.message_id.is_not(None), literal_column("'delivered'")),
    (_S.c.finalized, literal_column("'final'")),
    else_=literal_column("'pending'"),
).label("state")
_TRANSFERS: Select[Any] = (
    select(
        _S,
        _STATE,
        (_C.c.block_number - _S.c.block_number).label("confirmations"),
        _D.c.chain_id.label("delivery_chain_id"),
        _D.c.block_number.label("delivery_block_number"),
        _D.c.tx_hash.label("delivery_tx_hash"),
        _D.c.delivered_at,
    )
    .select_from(_S)
    .outerjoin(_D, _D.c.message_id == _S.c.message_id)
    .outerjoin(_C, _C.c.chain_id == _S.c.chain_id)
)


@dataclass(frozen=True, kw_only=True)
class TransferFilter:
    """Which transfers: sent or received by `account`, from `source_chain_id`, in `state`."""

    account: bytes | None = None
    source_chain_id: int | None = None
    state: str | None = None


def _sent_or_received(query: Select[Any]) -> Select[Any]:
    account: Any = bindparam("account")
    return query.where(or_(_S.c.sender == account, _S.c.recipient == account))


#: Newest send first.
_LIST = NewestFirst(
    _TRANSFERS,
    [KeyColumn(column=c) for c in (_S.c.block_number, _S.c.log_index, _S.c.chain_id)],
    {
        "account": _sent_or_received,
        "source_chain_id": lambda q: q.where(_S.c.chain_id == bindparam("source_chain_id")),
        "state": lambda q: q.where(bindparam("state") == _STATE),
    },
)


async def read_transfers(
    pool: Pool, settings: Settings, filters: TransferFilter, *, limit: int, cursor: str | None
) -> KeysetPage[Row]:
    """A page of transfers, newest send first."""
    values = {
        "account": filters.account,
        "source_chain_id": filters.source_chain_id,
        "state": filters.state,
    }
    return await _LIST.read(pool, settings.read_schema, values, limit=limit, cursor=cursor)


_ONE = CompiledQuery(_TRANSFERS.where(_S.c.message_id == bindparam("message_id")))


async def find_transfer(pool: Pool, settings: Settings, message_id: bytes) -> Row | None:
    """The transfer with this message id, or None."""
    rows = await _ONE.all(pool, settings.read_schema, {"message_id": message_id})
    return rows[0] if rows else None


# -- totals -----------------------------------------------------------------------------------
_SENT = CompiledQuery(
    select(
        _S.c.chain_id,
        _S.c.kind,
        func.count().label("count"),
        func.coalesce(func.sum(_S.c.amount), literal_column("0")).label("amount"),
        func.count().filter(_D.c.message_id.is_(None)).label("in_flight_count"),
        func.coalesce(
            func.sum(_S.c.amount).filter(_D.c.message_id.is_(None)), literal_column("0")
        ).label("in_flight_amount"),
    )
    .select_from(_S)
    .outerjoin(_D, _D.c.message_id == _S.c.message_id)
    .group_by(_S.c.chain_id, _S.c.kind)
    .order_by(_S.c.chain_id, _S.c.kind)
)
_RECEIVED = CompiledQuery(
    select(
        _D.c.chain_id,
        _D.c.kind,
        func.count().label("count"),
        func.coalesce(func.sum(_D.c.amount), literal_column("0")).label("amount"),
        func.count()
        .filter(~select(_S.c.message_id).where(_S.c.message_id == _D.c.message_id).exists())
        .label("orphaned"),
    )
    .group_by(_D.c.chain_id, _D.c.kind)
    .order_by(_D.c.chain_id, _D.c.kind)
)


@dataclass(frozen=True, kw_only=True)
class Flow:
    """How many transfers and how much DATACOIN (wei)."""

    count: int = 0
    amount: int = 0

    def __add__(self, other: Flow) -> Flow:
        return Flow(count=self.count + other.count, amount=self.amount + other.amount)


@dataclass(frozen=True, kw_only=True)
class ChainTotals:
    """What one chain's bridge contract sent and received, from its indexed events."""

    chain_id: int
    locked: Flow = Flow()  # home: BridgeLocked
    released: Flow = Flow()  # home: BridgeReleased
    burned: Flow = Flow()  # remote: BridgeBurned
    minted: Flow = Flow()  # remote: BridgeMinted
    in_flight: Flow = Flow()  # sent from here, not delivered yet
    orphaned: int = 0  # deliveries here whose send is not on the canonical source chain


async def bridge_totals(pool: Pool, settings: Settings) -> dict[int, ChainTotals]:
    """Per chain, what its bridge contract sent and received (live events only)."""
    fields: dict[int, dict[str, Any]] = {}
    for row in await _SENT.all(pool, settings.read_schema):
        mine = fields.setdefault(row["chain_id"], {})
        kind = "locked" if row["kind"] == "lock" else "burned"
        mine[kind] = Flow(count=row["count"], amount=int(row["amount"]))
        flight = Flow(count=row["in_flight_count"], amount=int(row["in_flight_amount"]))
        mine["in_flight"] = mine.get("in_flight", Flow()) + flight
    for row in await _RECEIVED.all(pool, settings.read_schema):
        mine = fields.setdefault(row["chain_id"], {})
        kind = "minted" if row["kind"] == "mint" else "released"
        mine[kind] = Flow(count=row["count"], amount=int(row["amount"]))
        mine["orphaned"] = mine.get("orphaned", 0) + row["orphaned"]
    return {chain: ChainTotals(chain_id=chain, **values) for chain, values in fields.items()}
