"""Live mode: follow the head block by block, detect reorgs by hash, advance finality.

anvil (like many nodes) never reports ``removed: true``, so reorgs are found by comparing
block hashes: each new block must link to the last recorded one by its parent hash.
Logs are fetched per block hash (EIP-234), so every event belongs to exactly the block
header we recorded, even when the chain moves between two calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import structlog
from eth_utils.crypto import keccak

from indexer.decode import EventDecoder
from indexer.events import BlockRecord
from indexer.rpc import Header, RpcClient, RpcError
from indexer.sync import Batch, Finalize, Reorg, SyncValue, build_events

log = structlog.get_logger(__name__)
#: Hash of a cursor whose block we never saw (the block before the start block).
UNKNOWN_HASH = b"\x00" * 32


def bloom_may_contain(bloom: bytes, item: bytes) -> bool:
    """Whether a header's 2048-bit logs bloom may contain `item` (an address or topic)."""
    if len(bloom) != 256:
        return True  # no bloom: assume yes
    digest = keccak(item)
    for i in (0, 2, 4):
        bit = ((digest[i] << 8) | digest[i + 1]) & 2047
        if not bloom[255 - bit // 8] & (1 << (bit % 8)):
            return False
    return True


@dataclass
class FollowConfig:
    """Live-mode knobs."""

    confirmations: int = 12
    max_blocks_per_step: int = 100
    use_finalized_tag: bool = True


class Follower:
    """Yields the values that keep the store equal to the canonical chain."""

    def __init__(
        self,
        rpc: RpcClient,
        decoder: EventDecoder,
        *,
        chain_id: int,
        cursor: BlockRecord,
        finalized: int,
        recent: list[BlockRecord],
        load_recorded: Callable[[int], list[BlockRecord]],
        config: FollowConfig,
        floor: BlockRecord,
    ) -> None:
        self.rpc = rpc
        self.decoder = decoder
        self.chain_id = chain_id
        self.cursor = cursor
        self.finalized = finalized
        self.recent = {b.number: b for b in recent}
        self.recent[cursor.number] = cursor
        self.load_recorded = load_recorded
        self.config = config
        self._addresses = [bytes.fromhex(a[2:]) for a in decoder.addresses]
        self.floor = floor
        self.stop_at: int | None = None

    # -- one poll -----------------------------------------------------------------------
    def step(self) -> Iterator[SyncValue]:
        """One poll of the head: yields what changed (nothing when the chain did not move)."""
        latest = self.rpc.header("latest")
        if latest is None:
            raise RpcError("node returned no latest block")
        if latest.number <= self.cursor.number:
            known = self.recent.get(latest.number)
            if known is None or known.hash != latest.hash:
                yield self._reorg(latest)
            yield from self._finality(latest)
            return
        upto = min(latest.number, self.cursor.number + self.config.max_blocks_per_step)
        if self.stop_at is not None:
            upto = min(upto, self.stop_at)
        if upto <= self.cursor.number:
            return
        headers = self.rpc.headers(list(range(self.cursor.number + 1, upto + 1)))
        linked = self.cursor.hash == UNKNOWN_HASH or headers[0].parent_hash == self.cursor.hash
        if not linked:
            yield self._reorg(latest)
            return  # the next step continues from the ancestor
        for previous, current in pairwise(headers):
            if current.parent_hash != previous.hash:
                log.info("indexer.live.race", number=current.number)
                headers = headers[: headers.index(current)]  # keep the linked prefix
                break
        yield self._blocks(headers)
        yield from self._finality(latest)

    def _blocks(self, headers: list[Header]) -> Batch:
        wanted = [
            h for h in headers if any(bloom_may_contain(h.logs_bloom, a) for a in self._addresses)
        ]
        logs_per_block = self.rpc.logs_by_block_hash(
            [h.hash for h in wanted], self.decoder.addresses, self.decoder.topics
        )
        raw = [entry for logs in logs_per_block for entry in logs if not entry.get("removed")]
        for entry in raw:
            if entry["blockHash"][2:].lower() not in {h.hash.hex() for h in wanted}:
                raise RpcError("node returned logs of another block for a blockHash filter")
        raw.sort(key=lambda r: (int(r["blockNumber"], 16), int(r["logIndex"], 16)))
        events, dead = build_events(self.chain_id, self.decoder, raw, {h.hash: h for h in headers})
        blocks = [BlockRecord(h.number, h.hash, h.parent_hash, h.timestamp) for h in headers]
        for b in blocks:
            self.recent[b.number] = b
        self.cursor = blocks[-1]
        return Batch(headers[0].number, headers[-1].number, self.cursor, events, blocks, dead)

    def _finality(self, latest: Header) -> Iterator[Finalize]:
        number = latest.number - self.config.confirmations
        if self.config.use_finalized_tag:
            tagged = self.rpc.header("finalized")
            if tagged is not None:
                number = max(number, tagged.number)
        number = min(number, self.cursor.number)
        if number > self.finalized:
            self.finalized = number
            for n in [n for n in self.recent if n < number - 64]:
                del self.recent[n]  # keep a margin below finality for deep-reorg detection
            yield Finalize(number)

    # -- reorgs -------------------------------------------------------------------------
    def _reorg(self, latest: Header) -> Reorg:
        """Walk back from the cursor to the newest recorded block still canonical."""
        top = min(self.cursor.number, latest.number)
        known = dict(self.recent)
        n = top
        while True:
            candidates = sorted((k for k in known if k <= n), reverse=True)
            if not candidates:
                older = self.load_recorded(max(0, n - 1024))
                known.update({b.number: b for b in older if b.number <= n})
                candidates = sorted((k for k in known if k <= n), reverse=True)
                if not candidates:
                    ancestor = self.floor  # nothing recorded is canonical any more
                    break
            batch = candidates[:64]
            canonical = {h.number: h for h in self.rpc.headers(batch)}
            match = next((k for k in batch if canonical[k].hash == known[k].hash), None)
            if match is not None:
                ancestor = known[match]
                break
            n = batch[-1] - 1
        depth = self.cursor.number - ancestor.number
        beyond = ancestor.number < self.finalized
        if beyond:
            log.error(
                "indexer.reorg.beyond_finality",
                depth=depth,
                ancestor=ancestor.number,
                finalized=self.finalized,
                alert=True,
            )
        log.warning("indexer.reorg", depth=depth, ancestor=ancestor.number, head=latest.number)
        for k in [k for k in self.recent if k > ancestor.number]:
            del self.recent[k]
        self.cursor = ancestor
        self.finalized = min(self.finalized, ancestor.number)
        return Reorg(ancestor, depth, beyond)
