"""The bridge relayer: carries every final send to its destination chain, exactly once.

Driven by final events only: it reads ``bridge_sends`` (the bridge's outbox, a read model
of ``BridgeLocked`` / ``BridgeBurned``) for sends whose block is final on their source chain
and that have no delivery yet. For each one it

1. asks the destination contract whether the message was processed (the read model may
   lag the chain): if so, there is nothing to do;
2. signs the message (EIP-712, the destination contract's domain) with each of its keys
   and records the signatures in ``bridge_signatures``, where relayers run by other
   operators, sharing the database, add theirs;
3. once the signatures of current relayers reach the destination's threshold, submits
   ``deliver`` (mint) or ``release`` with them, ordered by signer.

Exactly once on the other chain, whatever is redelivered, killed or run twice: the
destination contract refuses a message id it has processed (``AlreadyProcessed``), and the
relayer checks ``processed`` before it signs and again before it submits. A send that a
reorg removes before it is final is never read here; one removed after its delivery is a
reorg beyond finality, reported by ``datacoin verify bridge``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from psycopg import sql
from psycopg.rows import class_row
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound

from common.bridge import (
    BridgeMessage,
    RelayerSignature,
    domain_of,
    message_id,
    ordered_signatures,
    recover_signer,
    sign,
)
from common.chain import ChainClient, RevertError, Transactor
from common.db import libpq_url
from projections.schema import check_schema_name
from workers.bridge.metrics import RelayerMetrics
from workers.loop import service_loop

log = structlog.get_logger(__name__)

#: Final sends with no delivery, oldest first. A send is final when its block is at or
#: below its chain's finalized block (the indexer's cursor).
_PENDING = (
    "SELECT s.message_id, s.chain_id AS source_chain_id, s.dest_chain_id, s.sender,"
    " s.recipient, s.amount, s.nonce, s.contract, s.block_hash, s.tx_hash"
    " FROM {sends} s JOIN cursors c ON c.chain_id = s.chain_id"
    " WHERE s.block_number <= c.finalized_number"
    " AND NOT EXISTS (SELECT 1 FROM {deliveries} d WHERE d.message_id = s.message_id)"
    " ORDER BY s.block_number, s.chain_id, s.log_index LIMIT %s"
)


@dataclass(frozen=True, kw_only=True)
class FinalSend:
    """A final ``bridge_sends`` row not delivered yet (as read)."""

    message_id: bytes
    source_chain_id: int
    dest_chain_id: int
    sender: bytes
    recipient: bytes
    amount: int
    nonce: int
    contract: bytes
    block_hash: bytes
    tx_hash: bytes

    def message(self) -> BridgeMessage:
        """The message the relayers sign and the destination contract checks."""
        return BridgeMessage(
            message_id=bytes(self.message_id),
            source_chain_id=self.source_chain_id,
            dest_chain_id=self.dest_chain_id,
            from_=Web3.to_checksum_address(bytes(self.sender)),
            to=Web3.to_checksum_address(bytes(self.recipient)),
            amount=int(self.amount),
            nonce=int(self.nonce),
        )

    def id_matches(self) -> bool:
        """Whether the id is the one the source contract derives from the message's fields
        (a row that does not is never signed: it is not a message our contracts sent)."""
        expected = message_id(
            source_chain_id=self.source_chain_id,
            dest_chain_id=self.dest_chain_id,
            sender=Web3.to_checksum_address(bytes(self.contract)),
            nonce=int(self.nonce),
        )
        return expected == bytes(self.message_id)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one pass did to one message."""

    message_id: str
    #: delivered | already_processed | waiting_for_signatures | not_final | skipped
    action: str


@dataclass(frozen=True, kw_only=True)
class Destination:
    """A destination contract as one pass reads it: its relayer set and threshold are
    asked once per pass and chain, not once per message."""

    contract: Contract
    domain: Any
    relayers: frozenset[str]  # lower-case addresses
    threshold: int


@dataclass(frozen=True, kw_only=True)
class Ready:
    """A message with enough signatures of current relayers, to be submitted."""

    client: ChainClient
    destination: Destination
    message: BridgeMessage
    signatures: list[RelayerSignature]
    ident: str


@dataclass(kw_only=True)
class Relayer:
    """One relayer: its keys, a client per chain, and the database it reads and writes."""

    database_url: str
    chains: dict[int, ChainClient]
    signers: list[LocalAccount]
    #: Pays for the destination transaction (any funded key; a relayer's own by default).
    submitter: LocalAccount
    #: Blocks on top of a send's block before it is signed, checked on the source chain.
    confirmations: int = 12
    schema: str = "readmodels"
    batch_size: int = 50
    metrics: RelayerMetrics = field(default_factory=RelayerMetrics)
    #: Messages this relayer has confirmed final on their source chain and signed (message
    #: id -> the send's block hash). A message that only waits for other operators'
    #: signatures then costs one `processed` call per pass, not the source chain's receipt,
    #: head and block and a signature again. Confirmation is `confirmations` deep: a reorg
    #: below it is one beyond finality, which `datacoin verify bridge` reports. Pruned each
    #: pass to the messages still pending.
    _signed: dict[bytes, bytes] = field(default_factory=dict, init=False, repr=False)

    def _pending(self, conn: psycopg.Connection[Any]) -> list[FinalSend]:
        schema = check_schema_name(self.schema)
        query = sql.SQL(_PENDING).format(
            sends=sql.Identifier(schema, "bridge_sends"),
            deliveries=sql.Identifier(schema, "bridge_deliveries"),
        )
        with conn.cursor(row_factory=class_row(FinalSend)) as cur:
            return cur.execute(query, (self.batch_size,)).fetchall()

    def relay_once(self) -> list[Outcome]:
        """Carry every final, undelivered send as far as this relayer can."""
        destinations: dict[int, Destination] = {}
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            sends = self._pending(conn)
            steps = [self._prepare(conn, send, destinations) for send in sends]
        pending = {bytes(send.message_id) for send in sends}
        self._signed = {key: value for key, value in self._signed.items() if key in pending}
        # The connection is closed before submitting: a submission waits for its receipt
        # (up to the Transactor's timeout) and must not hold a database connection.
        outcomes = []
        for send, step in zip(sends, steps, strict=True):
            outcome = step if isinstance(step, Outcome) else self._submit(step)
            self.metrics.outcomes.labels(str(send.dest_chain_id), outcome.action).inc()
            outcomes.append(outcome)
        return outcomes

    def _destination(self, client: ChainClient, cache: dict[int, Destination]) -> Destination:
        chain_id = client.deployment.chain_id
        if chain_id not in cache:
            assert client.deployment.bridge is not None  # checked by the caller
            contract = client.contract(client.deployment.bridge.contract)
            cache[chain_id] = Destination(
                contract=contract,
                domain=domain_of(client.deployment),
                relayers=frozenset(r.lower() for r in contract.functions.relayers().call()),
                threshold=contract.functions.threshold().call(),
            )
        return cache[chain_id]

    def _prepare(
        self, conn: psycopg.Connection[Any], send: FinalSend, destinations: dict[int, Destination]
    ) -> Outcome | Ready:
        """Sign the send if it is final on its source chain; ready it once the current
        relayers' signatures reach the destination's threshold."""
        ident = "0x" + bytes(send.message_id).hex()
        client = self.chains.get(send.dest_chain_id)
        if client is None or client.deployment.bridge is None or not send.id_matches():
            log.warning(
                "bridge.relay.skipped",
                message_id=ident,
                dest_chain_id=send.dest_chain_id,
                reason="unknown destination" if client is None else "not a bridge message",
            )
            return Outcome(message_id=ident, action="skipped")
        destination = self._destination(client, destinations)
        if destination.contract.functions.processed(send.message_id).call():
            return Outcome(message_id=ident, action="already_processed")
        message = send.message()
        key = bytes(send.message_id)
        if self._signed.get(key) != bytes(send.block_hash):
            if not self._final_on_source(send):
                return Outcome(message_id=ident, action="not_final")
            for account in self.signers:
                _record(
                    conn, sign(message, account, destination.domain), message, send.dest_chain_id
                )
            self._signed[key] = bytes(send.block_hash)
        signatures = _current(conn, message, destination)
        if len(signatures) < destination.threshold:
            log.info(
                "bridge.relay.waiting",
                message_id=ident,
                have=len(signatures),
                need=destination.threshold,
            )
            return Outcome(message_id=ident, action="waiting_for_signatures")
        return Ready(
            client=client,
            destination=destination,
            message=message,
            signatures=signatures,
            ident=ident,
        )

    def _final_on_source(self, send: FinalSend) -> bool:
        """Whether the send is final on its source chain, asked of that chain's node: the
        read model says so once the indexer's finality passed its block, but a reorg's
        retraction may not be folded yet (a relayer never signs on the database's word
        alone). Its transaction's receipt must be in the same block, that block still the
        chain's at its height, `confirmations` deep, with the send's log in it."""
        source = self.chains.get(send.source_chain_id)
        if source is None:
            return False
        w3 = source.w3
        try:
            receipt = w3.eth.get_transaction_receipt(HexBytes(bytes(send.tx_hash)))
        except TransactionNotFound:
            return False
        block_hash = bytes(send.block_hash)
        if receipt["status"] != 1 or bytes(receipt["blockHash"]) != block_hash:
            return False
        number = receipt["blockNumber"]
        if number > w3.eth.block_number - self.confirmations:
            return False
        if bytes(w3.eth.get_block(number)["hash"]) != block_hash:
            return False
        emitter = bytes(send.contract)
        return any(
            bytes.fromhex(str(log["address"])[2:]) == emitter
            and len(log["topics"]) > 1
            and bytes(log["topics"][1]) == bytes(send.message_id)
            for log in receipt["logs"]
        )

    def _submit(self, ready: Ready) -> Outcome:
        client, message, ident = ready.client, ready.message, ready.ident
        assert client.deployment.bridge is not None  # checked in _prepare
        function = "deliver" if client.deployment.bridge.role == "remote" else "release"
        call = getattr(ready.destination.contract.functions, function)(
            message.as_struct(), ordered_signatures(ready.signatures)
        )
        try:
            receipt = Transactor(client.w3, self.submitter).send(call)
        except RevertError as exc:
            if exc.error == "AlreadyProcessed":  # another relayer was first: delivered once
                return Outcome(message_id=ident, action="already_processed")
            raise
        log.info(
            "bridge.relay.delivered",
            message_id=ident,
            function=function,
            dest_chain_id=message.dest_chain_id,
            amount=str(message.amount),
            tx_hash=Web3.to_hex(receipt["transactionHash"]),
            block=receipt["blockNumber"],
        )
        return Outcome(message_id=ident, action="delivered")

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Relay until `stop` is set (errors back off and retry; see ``service_loop``)."""

        def step() -> int:  # work done: deliveries (a message waiting for others is none)
            return sum(outcome.action == "delivered" for outcome in self.relay_once())

        service_loop("bridge.relayer", step, stop=stop, interval=interval)


def _record(
    conn: psycopg.Connection[Any], signed: RelayerSignature, message: BridgeMessage, dest: int
) -> None:
    conn.execute(
        "INSERT INTO bridge_signatures (message_id, signer, dest_chain_id, signature)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (message.message_id, bytes.fromhex(signed.signer[2:]), dest, signed.signature),
    )


def _current(
    conn: psycopg.Connection[Any], message: BridgeMessage, destination: Destination
) -> list[RelayerSignature]:
    """The collected signatures that recover to a current relayer of the destination (a
    rotated-out relayer's, or one that does not match the message, are left out)."""
    rows = conn.execute(
        "SELECT signer, signature FROM bridge_signatures WHERE message_id = %s",
        (message.message_id,),
    ).fetchall()
    valid = []
    for signer, signature in rows:
        address = Web3.to_checksum_address(bytes(signer))
        if address.lower() not in destination.relayers:
            continue
        if recover_signer(message, destination.domain, bytes(signature)).lower() != address.lower():
            continue
        valid.append(RelayerSignature(signer=address, signature=bytes(signature)))
    return valid
