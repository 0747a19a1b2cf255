"""GET /bridge, /bridge/transfers, /bridge/transfers/{message_id} and
/accounts/{address}/bridge-transfers: DATACOIN moving between the platform's chains, read
from the folded events and the indexed heads (api/bridge_queries.py)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from api.bindings import deployments
from api.bridge_queries import (
    STATES,
    ChainTotals,
    Flow,
    TransferFilter,
    bridge_totals,
    find_transfer,
    read_transfers,
)
from api.deps import Pool, SettingsDep, parse_address, refuse_nul
from api.pages import Page
from api.problems import Problem
from api.queries import Row
from api.render import address, hex0x, uint
from api.schemas import ERRORS, ChainId, CursorParam, Limit

router = APIRouter(tags=["bridge"])
MESSAGE_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class Leg(BaseModel):
    """A transfer's transaction on one chain."""

    chain_id: int
    block_number: int
    tx_hash: str
    timestamp: datetime


class BridgeTransfer(BaseModel):
    """DATACOIN sent over the bridge: locked on the home chain and minted on another, or
    burned there and released on the home chain."""

    message_id: str = Field(description="0x-hex, 32 bytes: unique across chains.")
    kind: Literal["lock", "burn"] = Field(description="lock: home → remote; burn: back.")
    source_chain_id: int
    dest_chain_id: int
    sender: str
    recipient: str
    amount: str = Field(description="DATACOIN wei, a decimal string.")
    nonce: str
    state: Literal["pending", "final", "delivered"] = Field(
        description="pending: its block is not final (nobody relays it yet); final: the"
        " relayers carry it; delivered: minted or released on the destination."
    )
    confirmations: int = Field(description="Blocks on top of the send's block.")
    confirmations_needed: int = Field(description="Blocks on top after which it is final.")
    source: Leg
    delivery: Leg | None


class FlowOut(BaseModel):
    """How many transfers, and how much DATACOIN (wei, a decimal string)."""

    count: int
    amount: str


class BridgeChain(BaseModel):
    """One chain's side of the bridge, from its indexed events."""

    chain_id: int
    role: Literal["home", "remote"]
    locked: str | None = Field(description="home: DATACOIN held by the vault (wei).")
    bridged_supply: str | None = Field(description="remote: bridged DATACOIN in existence.")
    sent: FlowOut
    received: FlowOut
    in_flight: FlowOut = Field(description="Sent from here, not delivered yet.")


class BridgeSummary(BaseModel):
    """The bridge's totals: what each side holds, and what is on its way."""

    chains: list[BridgeChain]
    in_flight: FlowOut
    delivered: FlowOut


def _flow(flow: Flow) -> FlowOut:
    return FlowOut(count=flow.count, amount=str(flow.amount))


def to_transfer(row: Row, confirmations_needed: int) -> BridgeTransfer:
    """A transfers row (send joined with its delivery) as the API shows it."""
    delivery = None
    if row["delivery_chain_id"] is not None:
        delivery = Leg(
            chain_id=row["delivery_chain_id"],
            block_number=row["delivery_block_number"],
            tx_hash=hex0x(row["delivery_tx_hash"]) or "",
            timestamp=row["delivered_at"],
        )
    return BridgeTransfer(
        message_id=hex0x(row["message_id"]) or "",
        kind=row["kind"],
        source_chain_id=row["chain_id"],
        dest_chain_id=row["dest_chain_id"],
        sender=address(row["sender"]) or "",
        recipient=address(row["recipient"]) or "",
        amount=uint(row["amount"]) or "0",
        nonce=uint(row["nonce"]) or "0",
        state=row["state"],
        confirmations=max(0, row["confirmations"] or 0),
        confirmations_needed=confirmations_needed,
        source=Leg(
            chain_id=row["chain_id"],
            block_number=row["block_number"],
            tx_hash=hex0x(row["tx_hash"]) or "",
            timestamp=row["sent_at"],
        ),
        delivery=delivery,
    )


def parse_transfer_state(state: str | None) -> str | None:
    """A state filter, or 400 naming the states."""
    refuse_nul(state=state)
    if state is not None and state not in STATES:
        raise Problem(
            400, "bridge_transfer.invalid_state", f"state must be one of {', '.join(STATES)}"
        )
    return state


StateQuery = Annotated[str | None, Query(max_length=200, description=" | ".join(STATES))]


@router.get(
    "/bridge/transfers",
    name="list_transfers",
    response_model=Page[BridgeTransfer],
    responses=ERRORS,
)
async def list_transfers(
    pool: Pool,
    settings: SettingsDep,
    account: Annotated[str | None, Query(max_length=200, description="sender or recipient")] = None,
    state: StateQuery = None,
    source_chain_id: ChainId = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[BridgeTransfer]:
    """Transfers across the bridge, newest first; by account (sender or recipient), state
    and source chain."""
    filters = TransferFilter(
        account=parse_address(account) if account is not None else None,
        source_chain_id=source_chain_id,
        state=parse_transfer_state(state),
    )
    page = await read_transfers(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(lambda row: to_transfer(row, settings.confirmations))


@router.get(
    "/accounts/{address}/bridge-transfers",
    name="account_transfers",
    response_model=Page[BridgeTransfer],
    responses=ERRORS,
)
async def list_account_transfers(
    pool: Pool,
    settings: SettingsDep,
    address: Annotated[str, Path(max_length=200, description="0x address")],
    state: StateQuery = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[BridgeTransfer]:
    """The account's transfers (sent or received), newest first."""
    filters = TransferFilter(account=parse_address(address), state=parse_transfer_state(state))
    page = await read_transfers(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(lambda row: to_transfer(row, settings.confirmations))


@router.get(
    "/bridge/transfers/{message_id}",
    name="get_transfer",
    response_model=BridgeTransfer,
    responses=ERRORS,
)
async def get_transfer(
    pool: Pool,
    settings: SettingsDep,
    message_id: Annotated[str, Path(max_length=200, description="0x-hex, 32 bytes")],
) -> BridgeTransfer:
    """One transfer by its message id (from the send's event or `GET /bridge/transfers`)."""
    if not MESSAGE_ID.match(message_id):
        raise Problem(400, "bridge_transfer.invalid_id", "a message id is 0x and 64 hex digits")
    row = await find_transfer(pool, settings, bytes.fromhex(message_id[2:]))
    if row is None:
        raise Problem(404, "bridge_transfer.not_found", f"no transfer {message_id}")
    return to_transfer(row, settings.confirmations)


@router.get("/bridge", name="summary", response_model=BridgeSummary, responses=ERRORS)
async def get_bridge(request: Request, pool: Pool, settings: SettingsDep) -> BridgeSummary:
    """Each chain's side of the bridge (what the home vault holds, the bridged supply),
    and the transfers in flight and delivered."""
    totals = await bridge_totals(pool, settings)
    chains = []
    in_flight = delivered = Flow()
    for chain in deployments(request).chains():
        if chain.deployment.bridge is None:
            continue
        mine = totals.get(chain.chain_id, ChainTotals(chain_id=chain.chain_id))
        chains.append(_side(chain.deployment.bridge.role, mine))
        in_flight = in_flight + mine.in_flight
        delivered = delivered + mine.minted + mine.released
    return BridgeSummary(chains=chains, in_flight=_flow(in_flight), delivered=_flow(delivered))


def _side(role: Literal["home", "remote"], mine: ChainTotals) -> BridgeChain:
    home = role == "home"
    return BridgeChain(
        chain_id=mine.chain_id,
        role=role,
        locked=str(mine.locked.amount - mine.released.amount) if home else None,
        bridged_supply=None if home else str(mine.minted.amount - mine.burned.amount),
        sent=_flow(mine.locked if home else mine.burned),
        received=_flow(mine.released if home else mine.minted),
        in_flight=_flow(mine.in_flight),
    )
