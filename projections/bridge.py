"""The bridge: transfers sent from one chain and their deliveries on the other.

A transfer spans two chains, and each chain's events are folded and retracted on their own,
so the read model is two tables joined by ``message_id`` (which names the source chain,
so it is unique across chains): a *send* (``BridgeLocked`` on the home chain,
``BridgeBurned`` on a remote one) and a *delivery* (``BridgeMinted`` / ``BridgeReleased``
on the destination). A row is written by its event alone; a reorg deletes it with its
event. Whether a send is final, waiting for the relayers or delivered is computed when
read, from these rows and the indexed heads (api/bridge_queries.py), never stored.

``bridge_sends`` is also the relayers' outbox: they carry every final send that has no
delivery (workers/bridge/relayer.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import BridgeBurned, BridgeLocked, BridgeMinted, BridgeReleased
from indexer.events import Fact
from projections.base import Key, LogProjection, ReadModelBase, Row, addr, event_names
from projections.clock import block_time

#: A send's kind by its event: DATACOIN locked on the home chain, or bridged DATACOIN burned.
SEND_KINDS = {BridgeLocked.event_name: "lock", BridgeBurned.event_name: "burn"}
#: A delivery's kind by its event.
DELIVERY_KINDS = {BridgeMinted.event_name: "mint", BridgeReleased.event_name: "release"}


class BridgeSendRow(ReadModelBase):
    """One transfer as its source chain emitted it."""

    __tablename__ = "bridge_sends"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[Bytes32]
    kind: Mapped[str] = mapped_column(Text, comment="lock | burn")
    dest_chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[AddressBytes]
    recipient: Mapped[AddressBytes]
    amount: Mapped[Uint256]
    nonce: Mapped[Uint256]
    contract: Mapped[AddressBytes] = mapped_column(comment="the emitting bridge contract")
    tx_hash: Mapped[Bytes32]
    sent_at: Mapped[datetime]
    block_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_bridge_sends_message", "message_id"),
        Index("ix_bridge_sends_newest", text("block_number DESC, chain_id DESC, log_index DESC")),
        Index("ix_bridge_sends_sender", text("sender, block_number DESC")),
        Index("ix_bridge_sends_recipient", text("recipient, block_number DESC")),
    )


class BridgeDeliveryRow(ReadModelBase):
    """One transfer as its destination chain received it."""

    __tablename__ = "bridge_deliveries"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[Bytes32]
    kind: Mapped[str] = mapped_column(Text, comment="mint | release")
    source_chain_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[AddressBytes]
    amount: Mapped[Uint256]
    tx_hash: Mapped[Bytes32]
    delivered_at: Mapped[datetime]
    block_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_bridge_deliveries_message", "message_id"),)


class BridgeSends(LogProjection):
    """``BridgeLocked`` / ``BridgeBurned``: the transfers each chain sent."""

    name = "bridge_sends"
    table: ClassVar[Table] = BridgeSendRow.__table__  # type: ignore[assignment]
    events = event_names(BridgeLocked, BridgeBurned)
    cost = 0.5

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case BridgeLocked() | BridgeBurned() as sent:
                return {
                    "chain_id": fact.chain_id,
                    "block_hash": fact.block_hash,
                    "log_index": fact.log_index,
                    "message_id": sent.message_id,
                    "kind": SEND_KINDS[fact.event_name],
                    "dest_chain_id": sent.dest_chain_id,
                    "sender": addr(sent.from_),
                    "recipient": addr(sent.to),
                    "amount": sent.amount,
                    "nonce": sent.nonce,
                    "contract": fact.address,
                    "tx_hash": fact.tx_hash,
                    "sent_at": block_time(fact.block_timestamp),
                    "block_number": fact.block_number,
                }
        return row


class BridgeDeliveries(LogProjection):
    """``BridgeMinted`` / ``BridgeReleased``: the transfers each chain received."""

    name = "bridge_deliveries"
    table: ClassVar[Table] = BridgeDeliveryRow.__table__  # type: ignore[assignment]
    events = event_names(BridgeMinted, BridgeReleased)
    cost = 0.5

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case BridgeMinted() | BridgeReleased() as received:
                return {
                    "chain_id": fact.chain_id,
                    "block_hash": fact.block_hash,
                    "log_index": fact.log_index,
                    "message_id": received.message_id,
                    "kind": DELIVERY_KINDS[fact.event_name],
                    "source_chain_id": received.source_chain_id,
                    "recipient": addr(received.to),
                    "amount": received.amount,
                    "tx_hash": fact.tx_hash,
                    "delivered_at": block_time(fact.block_timestamp),
                    "block_number": fact.block_number,
                }
        return row
