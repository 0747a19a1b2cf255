"""Audit the event store: the hash chain, and (optionally) every event against the chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.manifest import Deployment
from indexer.decode import EventDecoder, reference_decode
from indexer.events import GENESIS_HASH, chain_hash
from indexer.rpc import RpcClient
from indexer.store import EventStore, live_events

PAGE = 10_000


@dataclass
class Report:
    """What an audit found; `ok` when nothing."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_hash_chain(store: EventStore) -> Report:
    """Recompute every entry's hash from its content and its predecessor's hash."""
    report = Report()
    previous, expected_position, position = GENESIS_HASH, 1, 0
    while batch := store.read_after(position, PAGE):
        for entry in batch:
            if entry.position != expected_position:
                report.problems.append(
                    f"gap: expected position {expected_position}, found {entry.position}"
                )
            recomputed = chain_hash(previous, entry.canonical())
            if recomputed != entry.hash:
                report.problems.append(
                    f"position {entry.position}: hash mismatch (edited or reordered)"
                )
            previous, expected_position = entry.hash, entry.position + 1
            report.checked += 1
        position = batch[-1].position
    return report


def verify_against_chain(
    store: EventStore, rpc: RpcClient, deployment: Deployment, chunk: int = 2_000
) -> Report:
    """Re-fetch the chain's logs over the indexed range and compare event for event."""
    report = Report()
    saved = store.checkpoint(deployment.chain_id)
    if saved is None:
        report.problems.append(f"chain {deployment.chain_id} has not been indexed")
        return report
    decoder = EventDecoder({n: c.address for n, c in deployment.contracts.items()})
    expected = []
    for start in range(deployment.start_block, saved.block_number + 1, chunk):
        end = min(saved.block_number, start + chunk - 1)
        for raw in rpc.get_logs(start, end, decoder.addresses, decoder.topics):
            spec = decoder.spec_for(raw["address"], raw["topics"][0])
            expected.append((raw["blockHash"].lower(), int(raw["logIndex"], 16), spec.name,
                             reference_decode(spec, raw["topics"], raw["data"])))  # fmt: skip
    expected.sort(key=lambda k: (k[0], k[1]))
    stored = sorted(
        (("0x" + e.event.block_hash.hex(), e.event.log_index, e.event.event_name, e.event.args)
         for e in live_events(store, deployment.chain_id)),
        key=lambda k: (k[0], k[1]),
    )  # fmt: skip
    report.checked = len(stored)
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    for k in missing[:20]:
        report.problems.append(f"missing from store: {k[2]} at block {k[0]} log {k[1]}")
    for k in extra[:20]:
        report.problems.append(f"in store but not on chain: {k[2]} at block {k[0]} log {k[1]}")
    if len(missing) + len(extra) > 40:
        report.problems.append(f"... {len(missing)} missing and {len(extra)} extra in total")
    return report
