"""Audit the event store: the hash chain, and (optionally) every event against the chain.

Both audits are linear in the store's size: the chain comparison matches logs by their
natural key ``(block hash, log index)`` in dicts (a list search per log made it quadratic:
306 s for 82k entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from common.manifest import Deployment
from indexer.decode import DecodeError, EventDecoder, reference_decode
from indexer.events import GENESIS_HASH, DeadLetter, StoredEvent, UnknownFormatError, chain_hash
from indexer.rpc import JsonObj, RpcClient
from indexer.store import EventStore, live_events

PAGE = 10_000
SHOWN = 20  # problems listed per kind; the rest are counted

#: A log's natural key: (block hash as lowercase 0x-hex, log index).
LogKey = tuple[str, int]


@dataclass
class Report:
    """What an audit found; `ok` when nothing."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    dead_letters: int = 0  # of `checked`: undecodable logs matched with the store's record

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_hash_chain(store: EventStore) -> Report:
    """Recompute every entry's hash from its content and its predecessor's hash, with the
    canonical encoding of the entry's row format (``indexer.events.CANONICAL_ENCODINGS``).
    An entry in a format this code does not know is reported, and the audit goes on from
    its stored hash."""
    report = Report()
    previous, expected_position, position = GENESIS_HASH, 1, 0
    while batch := store.read_after(position, PAGE):
        for entry in batch:
            if entry.position != expected_position:
                report.problems.append(
                    f"gap: expected position {expected_position}, found {entry.position}"
                )
            problem = _hash_problem(entry, previous)
            if problem is not None:
                report.problems.append(f"position {entry.position}: {problem}")
            previous, expected_position = entry.hash, entry.position + 1
            report.checked += 1
        position = batch[-1].position
    return report


def _hash_problem(entry: StoredEvent, previous: bytes) -> str | None:
    """What is wrong with `entry`'s hash after `previous`, or None."""
    try:
        canonical = entry.canonical()
    except UnknownFormatError as exc:
        return f"{exc}: not verified (written by a newer datacoin?)"
    if chain_hash(previous, canonical) != entry.hash:
        return "hash mismatch (edited or reordered)"
    return None


class AuditedStore(EventStore, Protocol):
    """An event store that also returns its dead letters (logs it could not decode)."""

    def read_dead_letters(self, chain_id: int) -> list[DeadLetter]:
        """Every dead letter recorded for `chain_id`, in (block number, log index) order."""
        ...


@dataclass(frozen=True)
class ChainEvent:
    """A platform log on the chain, decoded by the reference decoder."""

    block_number: int
    name: str
    args: JsonObj


@dataclass
class ChainLogs:
    """The platform logs on the chain by key: decoded ones, and the block numbers of the
    ones that do not decode."""

    events: dict[LogKey, ChainEvent] = field(default_factory=dict)
    undecodable: dict[LogKey, int] = field(default_factory=dict)


def _chain_logs(rpc: RpcClient, deployment: Deployment, last: int, chunk: int) -> ChainLogs:
    """Fetch and decode (with eth-abi, the reference) every platform log up to `last`."""
    decoder = EventDecoder(deployment.addresses_by_artifact())
    found = ChainLogs()
    for start in range(deployment.start_block, last + 1, chunk):
        end = min(last, start + chunk - 1)
        for raw in rpc.get_logs(start, end, decoder.addresses, decoder.topics):
            key = (raw["blockHash"].lower(), int(raw["logIndex"], 16))
            number = int(raw["blockNumber"], 16)
            try:
                found.events[key] = _reference(decoder, raw, number)
            except DecodeError:
                found.undecodable[key] = number
    return found


def _reference(decoder: EventDecoder, raw: dict[str, Any], number: int) -> ChainEvent:
    """The log decoded with eth-abi; DecodeError when it does not fit its event."""
    topics: list[str] = raw["topics"]
    if not topics:
        raise DecodeError("anonymous log (no topics)")
    spec = decoder.spec_for(raw["address"], topics[0])
    return ChainEvent(number, spec.name, reference_decode(spec, topics, raw["data"]))


def _report(report: Report, what: str, keys: list[tuple[Any, ...]]) -> None:
    """Add `keys` ((block number, block hash, log index, name)) as problems of one kind."""
    keys.sort()
    for number, block_hash, index, name in keys[:SHOWN]:
        report.problems.append(f"{what}: {name} at block {number} ({block_hash}) log {index}")
    if len(keys) > SHOWN:
        report.problems.append(f"... {len(keys)} {what} in total")


def _compare_events(report: Report, chain: ChainLogs, store: EventStore, chain_id: int) -> None:
    """Every live stored event against the chain's decoded logs, by key."""
    stored: set[LogKey] = set()
    duplicates, extra, differ = [], [], []
    for e in live_events(store, chain_id):
        key = ("0x" + e.event.block_hash.hex(), e.event.log_index)
        row = (e.event.block_number, key[0], key[1], e.event.event_name)
        report.checked += 1
        if key in stored:
            duplicates.append(row)
            continue
        stored.add(key)
        on_chain = chain.events.get(key)
        if on_chain is None:
            extra.append(row)
        elif (on_chain.name, on_chain.args) != (e.event.event_name, e.event.args):
            differ.append(row)
    missing = [
        (c.block_number, k[0], k[1], c.name) for k, c in chain.events.items() if k not in stored
    ]
    _report(report, "missing from store", missing)
    _report(report, "in store but not on chain", extra)
    _report(report, "differs from the chain", differ)
    _report(report, "stored twice", duplicates)


def _compare_dead_letters(
    report: Report,
    *,
    chain: ChainLogs,
    store: AuditedStore,
    rpc: RpcClient,
    chain_id: int,
    last: int,
) -> None:
    """The chain's undecodable logs against the store's dead letters, by key. A dead letter
    of a block no longer canonical (a reorg) is history, not a problem: dead letters are
    never retracted."""
    recorded = {
        ("0x" + d.block_hash.hex(), d.log_index): d
        for d in store.read_dead_letters(chain_id)
        if d.block_number <= last
    }
    missing = [(n, k[0], k[1], "log") for k, n in chain.undecodable.items() if k not in recorded]
    canonical: dict[int, str] = {}
    extra = []
    for key, dead in recorded.items():
        if key in chain.undecodable:
            report.dead_letters += 1
            continue
        if dead.block_number not in canonical:  # rare: one header per such block
            header = rpc.header(dead.block_number)
            canonical[dead.block_number] = "0x" + header.hash.hex() if header else ""
        if canonical[dead.block_number] == key[0]:
            extra.append((dead.block_number, key[0], key[1], "log"))
    report.checked += report.dead_letters
    _report(report, "dead letter missing from store", missing)
    _report(report, "dead letter for a log that decodes, or is not on chain", extra)


def verify_against_chain(
    store: AuditedStore, rpc: RpcClient, deployment: Deployment, chunk: int = 2_000
) -> Report:
    """Re-fetch the chain's logs over the indexed range and compare them with the store,
    log for log: each decodable log with its live event, each undecodable one with its
    dead letter. Linear in the number of logs."""
    report = Report()
    saved = store.checkpoint(deployment.chain_id)
    if saved is None:
        report.problems.append(f"chain {deployment.chain_id} has not been indexed")
        return report
    chain = _chain_logs(rpc, deployment, saved.block_number, chunk)
    _compare_events(report, chain, store, deployment.chain_id)
    _compare_dead_letters(
        report,
        chain=chain,
        store=store,
        rpc=rpc,
        chain_id=deployment.chain_id,
        last=saved.block_number,
    )
    return report
