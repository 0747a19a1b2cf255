"""Per-account activity: one row per (event, account it concerns)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr
from projections.clock import block_time

#: event -> (argument naming the account, role of that account), for each party.
PARTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "DatasetListed": (("provider", "provider"),),
    "PriceChanged": (),
    "DatasetDelisted": (("provider", "provider"),),
    "Purchased": (("buyer", "buyer"), ("provider", "seller")),
    "Rated": (("rater", "rater"),),
    "TrainingRequested": (("requester", "requester"),),
    "TrainingLogged": (("worker", "worker"),),
    "TrainingRefunded": (("requester", "requester"),),
    "Staked": (("account", "staker"),),
    "UnstakeRequested": (("account", "staker"),),
    "Unstaked": (("account", "staker"),),
    "Dripped": (("to", "recipient"),),
}
#: event -> argument carrying the amount of DATACOIN involved.
AMOUNTS = {
    "DatasetListed": "price", "Purchased": "price", "TrainingRequested": "payment",
    "TrainingRefunded": "amount", "Staked": "amount", "UnstakeRequested": "amount",
    "Unstaked": "amount", "Dripped": "amount",
}  # fmt: skip


class ActivityRow(ReadModelBase):
    """Something an account did or received."""

    __tablename__ = "account_activity"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[AddressBytes] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(Text)
    event_name: Mapped[str] = mapped_column(Text)
    dataset_id: Mapped[Uint256 | None]
    job_id: Mapped[Uint256 | None]
    amount: Mapped[Uint256 | None]
    tx_hash: Mapped[Bytes32]
    occurred_at: Mapped[datetime]
    block_number: Mapped[int] = mapped_column(BigInteger)

    # GET /accounts/{address}: an account's newest activity first (without it, a page is a
    # scan of every account's rows: 33 ms at 135k rows).
    __table_args__ = (
        Index("ix_account_activity_account", text("account, block_number DESC, log_index DESC")),
    )


class Activity(Projection):
    """Fans each event out to the accounts it concerns."""

    name = "account_activity"
    table: ClassVar[Table] = ActivityRow.__table__  # type: ignore[assignment]
    events = frozenset(name for name, parties in PARTIES.items() if parties)
    cost = 2.0  # one or two rows per event, every one written and hashed
    write_once = True

    def keys(self, event: Fact) -> list[Key]:
        parties = PARTIES[event.event_name]
        if len(parties) == 1:  # the common case, without the dedup below
            return [(event.chain_id, event.block_hash, event.log_index,
                     addr(event.args[parties[0][0]]))]  # fmt: skip
        keys = [(event.chain_id, event.block_hash, event.log_index, addr(event.args[arg]))
                for arg, _ in parties]  # fmt: skip
        return list(dict.fromkeys(keys))  # a provider buying its own dataset: one row

    def refold(self, key: Key, event: Fact) -> Refold:
        return Refold(key[0], frozenset(), {})  # written by that one event only

    def apply(self, key: Key, row: Row | None, event: Fact) -> Row | None:
        a = event.args
        account = key[3]
        name = event.event_name
        parties = PARTIES[name]
        # The first party naming this account (a provider buying its own dataset: buyer).
        role = parties[0][1] if len(parties) == 1 else \
            next(r for arg, r in parties if addr(a[arg]) == account)  # fmt: skip
        # (inlined rather than a helper per number: this runs for every row of a replay)
        amount_arg = AMOUNTS.get(name)
        dataset, job = a.get("datasetId"), a.get("jobId")
        amount = a.get(amount_arg) if amount_arg else None
        return {
            "chain_id": event.chain_id, "block_hash": event.block_hash,
            "log_index": event.log_index, "account": account, "role": role, "event_name": name,
            "dataset_id": None if dataset is None else int(dataset),
            "job_id": None if job is None else int(job),
            "amount": None if amount is None else int(amount), "tx_hash": event.tx_hash,
            "occurred_at": block_time(event.block_timestamp), "block_number": event.block_number,
        }  # fmt: skip
