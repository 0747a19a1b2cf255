"""The indexer: backfill to finality, then follow the head; commit every value it yields.

Backfill: ranges are fetched several at a time, by fetch processes for large backfills
(``indexer.fetch_pool``: fetch, decode and encode) or by threads, and committed strictly in
range order by a committer thread (``indexer.committer``), ranges that are ready at once in
one transaction. Live mode commits each value before asking for the next.

Crash safety: each committed value moves the cursor in the same transaction as its events
and only if the cursor is where this process last left it. After ``kill -9`` a restart
resumes from the committed cursor: no gap, no duplicate. A lost PostgreSQL connection (a
restart, a terminated backend) or a broken fetch pool does the same without a restart:
``run`` reloads the committed cursor and goes on, after a backoff.

Stopping: ``run``'s `stop` event (set on SIGTERM) ends a backfill after the ranges already
handed to the committer, and live mode after its current step; both leave a committed
cursor to resume from.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import structlog

from common.errors import ConfigurationError, RetryableError, classify
from common.manifest import Deployment
from indexer.committer import Committer
from indexer.decode import EventDecoder
from indexer.events import BlockRecord, Checkpoint
from indexer.fetch_pool import FetchSource
from indexer.follow import UNKNOWN_HASH, FollowConfig, Follower
from indexer.metrics import IndexerMetrics
from indexer.retry import RetryPolicy
from indexer.rpc import RpcClient, RpcError
from indexer.store import EncodedAppender, EventStore, Expected
from indexer.sync import (
    Batch,
    EncodedBatch,
    Finalize,
    RangeFetcher,
    RangeSizer,
    Reorg,
    SyncValue,
    backfill,
    merge,
)

log = structlog.get_logger(__name__)
#: Seconds the head-of-line range's request may be out before a second one is sent
#: (a quarter of the per-request timeout, at most this).
HEDGE_AFTER_MAX_S = 1.0
#: The runner's first retry waits 0.1-0.2 s (then x2 per failure, up to ``max_backoff``).
RETRY_BASE_S = 0.2


@dataclass
class IndexerConfig:
    """Indexer knobs (from settings)."""

    confirmations: int = 12
    concurrency: int = 4
    poll_interval: float = 0.2  # as Settings.poll_interval
    # Small on purpose: the sizer grows sparse ranges fast (x2 per range), and a dense
    # chain's first range then never is the whole backfill (no overlap, all in memory).
    initial_range: int = 20
    max_range: int = 50_000
    target_logs: int = 2_000
    use_finalized_tag: bool = True
    max_backoff: float = 2.0  # the retry policy's cap (indexer.retry): live mode is back soon
    # Backfill fetch/decode/encode processes (indexer.fetch_pool); 0: threads in this process.
    fetch_processes: int = 2
    # Backfills spanning fewer blocks use threads: starting processes would cost more.
    fetch_processes_min_blocks: int = 512


@dataclass
class Progress:
    """What a progress display shows."""

    phase: str
    cursor: int
    head: int
    events: int
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Events per second since start."""
        return self.events / max(time.monotonic() - self.started, 1e-9)


class Indexer:
    """Indexes one chain's platform events into an event store."""

    def __init__(
        self,
        rpc: RpcClient,
        store: EventStore,
        deployment: Deployment,
        *,
        config: IndexerConfig | None = None,
        metrics: IndexerMetrics | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.deployment = deployment
        self.config = config or IndexerConfig()
        self.metrics = metrics or IndexerMetrics()
        self.on_progress = on_progress
        self.chain_id = deployment.chain_id
        self.decoder = EventDecoder(deployment.addresses_by_artifact())
        self._label = str(self.chain_id)
        self.cursor = BlockRecord(deployment.start_block - 1, UNKNOWN_HASH, UNKNOWN_HASH, 0)
        self.finalized = deployment.start_block - 1
        self.expected: Expected = None
        self.progress = Progress("starting", self.cursor.number, 0, 0)
        # The runner's own waits: its phases' RPC retries, live mode, restarts.
        self.retry = RetryPolicy(base=RETRY_BASE_S, cap=self.config.max_backoff)

    # -- state ------------------------------------------------------------------------
    def _load(self) -> None:
        node_chain = self.rpc.chain_id()
        if node_chain != self.chain_id:
            raise ConfigurationError(
                f"node at {self.rpc.url} is chain {node_chain}, manifest says {self.chain_id}"
            )
        saved = self.store.checkpoint(self.chain_id)
        if saved is not None:
            self.cursor = BlockRecord(saved.block_number, saved.block_hash, UNKNOWN_HASH, 0)
            self.finalized = saved.finalized_number
            self.expected = (saved.block_number, saved.block_hash)
        elif self.cursor.number >= 0:
            header = self.rpc.header(self.cursor.number)
            if header is not None:
                self.cursor = BlockRecord(
                    header.number, header.hash, header.parent_hash, header.timestamp
                )
        log.info(
            "indexer.start",
            chain_id=self.chain_id,
            cursor=self.cursor.number,
            finalized=self.finalized,
        )

    def _finalized_head(self) -> tuple[int, int]:
        latest = self.rpc.block_number()
        final = latest - self.config.confirmations
        if self.config.use_finalized_tag:
            tagged = self.rpc.header("finalized")
            if tagged is not None:
                final = max(final, tagged.number)
        return latest, final

    # -- commit -------------------------------------------------------------------------
    def apply(self, value: SyncValue | EncodedBatch) -> None:
        """Commit one sync value to the store."""
        if isinstance(value, Batch | EncodedBatch):
            cp = Checkpoint(
                chain_id=self.chain_id,
                block_number=value.end.number,
                block_hash=value.end.hash,
                finalized_number=min(self.finalized, value.end.number),
                blocks=tuple(value.blocks),
            )
            if isinstance(value, EncodedBatch):
                assert isinstance(self.store, EncodedAppender)
                self.store.append_encoded(value.events, cp, self.expected, value.dead_letters)
            else:
                self.store.append(value.events, cp, self.expected, value.dead_letters)
            self.cursor = value.end
            self.metrics.events.labels(self._label).inc(len(value.events))
            self.metrics.dead_letters.labels(self._label).inc(len(value.dead_letters))
            self.progress.events += len(value.events)
            for dead in value.dead_letters:
                log.error("indexer.dead_letter", block=dead.block_number, reason=dead.reason)
        elif isinstance(value, Reorg):
            anc = value.ancestor
            self.finalized = min(self.finalized, anc.number)
            cp = Checkpoint(
                chain_id=self.chain_id,
                block_number=anc.number,
                block_hash=anc.hash,
                finalized_number=self.finalized,
            )
            retracted = self.store.retract(self.chain_id, anc.number, cp, self.expected)
            self.cursor = anc
            self.metrics.reorgs.labels(self._label, str(value.beyond_finality).lower()).inc()
            log.warning(
                "indexer.reorg.reconciled",
                depth=value.depth,
                ancestor=anc.number,
                retracted=len(retracted),
            )
        else:
            assert isinstance(value, Finalize)
            self.finalized = value.number
            cp = Checkpoint(
                chain_id=self.chain_id,
                block_number=self.cursor.number,
                block_hash=self.cursor.hash,
                finalized_number=value.number,
            )
            self.store.append([], cp, self.expected)
        self.expected = (self.cursor.number, self.cursor.hash)
        self.metrics.cursor.labels(self._label).set(self.cursor.number)

    def _report(self, phase: str, head: int) -> None:
        self.progress.phase, self.progress.cursor, self.progress.head = (
            phase,
            self.cursor.number,
            head,
        )
        self.metrics.head_lag.labels(self._label).set(max(0, head - self.cursor.number))
        if self.on_progress:
            self.on_progress(self.progress)

    # -- phases -------------------------------------------------------------------------
    def backfill(self, to_block: int | None = None, stop: threading.Event | None = None) -> None:
        """Index every block up to finality (or `to_block`), several ranges in flight,
        until done or `stop` is set.

        The fetch loop (this thread) never waits for the database: it hands each run of
        ranges ready at once to the committer thread, which commits them in order, one
        transaction per run. On an error the committer stops after its current transaction,
        so the cursor (``self.cursor``/``self.expected``) is always what was committed.
        On `stop`, what was handed over is committed (two runs at most) and fetches in
        flight are waited for (one RPC call each); the rest is left for the next start."""
        stop = stop or threading.Event()
        sizer = RangeSizer(
            self.config.initial_range, 1, self.config.max_range, self.config.target_logs
        )
        with contextlib.ExitStack() as stack:
            source: FetchSource | None = None  # made on first use
            while not stop.is_set():
                head, final = self._finalized_head()
                target = final if to_block is None else min(final, to_block)
                if target <= self.cursor.number:
                    return
                log.info("indexer.backfill", start=self.cursor.number + 1, end=target, head=head)
                self.finalized = target  # everything backfilled is at or below finality
                if source is None:
                    source = stack.enter_context(self._fetch_source(target - self.cursor.number))
                # Fetching goes on while the committer thread writes (see indexer.committer).
                commit = functools.partial(self._commit, head=head)
                with Committer[Batch | EncodedBatch](commit) as committer:
                    for group in backfill(
                        source.submit,
                        self.cursor.number + 1,
                        target,
                        sizer,
                        concurrency=self.config.concurrency,
                        max_backoff=self.config.max_backoff,
                        hedge_after=min(HEDGE_AFTER_MAX_S, self.rpc.timeout / 4),
                    ):
                        committer.put(group)
                        if stop.is_set():
                            log.info("indexer.backfill.stopped", cursor=self.cursor.number)
                            break

    def _commit(self, items: list[Batch | EncodedBatch], head: int) -> None:
        """Commit consecutive fetched ranges in one transaction."""
        self.apply(merge(items))
        self._report("backfill", head)

    def _fetch_source(self, blocks: int) -> FetchSource:
        """Threads, plus fetch processes for large backfills, encoding events for the
        store when it takes encoded events (``indexer.fetch_pool``)."""
        encoded = isinstance(self.store, EncodedAppender)
        use_processes = (
            encoded
            and self.config.fetch_processes > 0
            and blocks >= self.config.fetch_processes_min_blocks
        )
        contracts = self.deployment.addresses_by_artifact()
        # A range with this many logs came from a stale size: cut it, fetch the rest anew.
        max_logs = 4 * self.config.target_logs
        fetcher = RangeFetcher(self.rpc, self.decoder, self.chain_id, max_logs)
        processes = self.config.fetch_processes if use_processes else 0
        return FetchSource(fetcher, self.config.concurrency, contracts, processes, encoded)

    def follow(self, to_block: int | None = None, stop: threading.Event | None = None) -> None:
        """Follow the head (reorgs, finality) until `to_block` is indexed or `stop` is set."""
        stop = stop or threading.Event()
        recent = self.store.recorded_blocks(self.chain_id, max(0, self.finalized - 64))
        floor_number = self.deployment.start_block - 1
        follower = Follower(
            self.rpc,
            self.decoder,
            chain_id=self.chain_id,
            cursor=self.cursor,
            finalized=self.finalized,
            recent=recent,
            load_recorded=lambda n: self.store.recorded_blocks(self.chain_id, n),
            config=FollowConfig(
                self.config.confirmations, use_finalized_tag=self.config.use_finalized_tag
            ),
            floor=BlockRecord(floor_number, UNKNOWN_HASH, UNKNOWN_HASH, 0),
        )
        follower.stop_at = to_block
        failures = 0  # consecutive failed steps
        while not stop.is_set():
            if to_block is not None and self.cursor.number >= to_block:
                return
            moved = False
            try:
                for value in follower.step():
                    self.apply(value)
                    moved = moved or not isinstance(value, Finalize)
                failures = 0
            except RpcError as exc:
                self._count_rpc_error(exc)
                failures += 1
                follower.cursor = self.cursor  # resume from what was committed
                self.retry.backoff(failures, event="indexer.live.retry", error=exc, stop=stop)
                continue
            self._report("live", max(self.cursor.number, follower.cursor.number))
            if not moved:
                stop.wait(self.config.poll_interval)

    def _count_rpc_error(self, _exc: BaseException) -> None:
        self.metrics.rpc_errors.labels(self._label).inc()

    def _retrying(self, what: str, action: Callable[[], None], stop: threading.Event) -> None:
        """Run `action` until it succeeds or `stop` is set; RPC failures are retried with
        the jittered backoff, forever (a failed range is never skipped)."""
        if stop.is_set():
            return
        try:
            self.retry.call(
                action, what=what, retry_on=(RpcError,), stop=stop, on_retry=self._count_rpc_error
            )
        except RpcError:
            if not stop.is_set():
                raise  # unreachable: with no limit on attempts only a stop ends them

    def run(self, to_block: int | None = None, stop: threading.Event | None = None) -> None:
        """Backfill then follow, until `to_block` is indexed or `stop` is set.

        Transient RPC failures are retried with backoff where they happen. A lost store
        connection or a broken fetch pool ends the phase in progress: after a backoff,
        ``run`` reloads the committed cursor (a commit whose answer was lost may have
        happened or not: the store says which) and starts again from there."""
        stop = stop or threading.Event()
        failures = 0
        failed_at: int | None = None  # the cursor at the last restart
        while not stop.is_set():
            try:
                self._retrying("start", self._load, stop)
                self._retrying("backfill", lambda: self.backfill(to_block, stop), stop)
                self.follow(to_block, stop)
                return
            except Exception as exc:
                event = _restart_event(exc)
                if event is None:
                    raise
                # Backoff grows while no commit succeeds between failures (a store that
                # is down), and starts again from the shortest after progress.
                failures = failures + 1 if failed_at == self.cursor.number else 1
                failed_at = self.cursor.number
                self.retry.backoff(
                    failures,
                    event=event,
                    error=f"{type(exc).__name__}: {exc}",
                    stop=stop,
                    cursor=self.cursor.number,
                )


def _restart_event(exc: Exception) -> str | None:
    """The event to log for a failure ``run`` recovers from by restarting from the
    committed cursor, or None for one it does not (it is raised)."""
    if isinstance(exc, BrokenProcessPool):  # a fetch process killed (the OOM killer, a signal)
        return "indexer.fetch_pool.broken"
    # RPC failures are retried where they happen (``_retrying``, ``follow``); the
    # transient failures that reach here are the store's (psycopg's OperationalError:
    # a terminated backend, a restarting server).
    if isinstance(classify(exc), RetryableError) and not isinstance(exc, RpcError):
        return "indexer.store.unavailable"
    return None
