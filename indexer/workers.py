"""Backfill worker processes: fetch, decode and encode block ranges off the main process.

Per-log work (JSON parsing, decoding, encoding rows) is spread over a few processes, so it
is not serialised by the main process's GIL; the main process keeps only what must be
sequential: numbering, the hash chain, COPY and commit (``append_encoded``). Results come
back as ``EncodedBatch`` values (lists of bytes: cheap to pickle) and ``backfill`` hands
them to the runner strictly in range order, whatever order the workers finish in.

Processes come from the shared ``forkserver`` (common/procs.py) with this module preloaded:
started once per parent process, it forks warm workers in milliseconds for every pool after
that. Each worker opens its own JSON-RPC connection. Workers ignore SIGINT and SIGTERM and
exit as soon as the parent is gone, even after ``kill -9`` (``become_worker``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from types import TracebackType
from typing import cast

import structlog

from common.procs import become_worker, forkserver_context
from indexer.decode import EventDecoder
from indexer.rpc import RpcClient
from indexer.sync import Batch, EncodedBatch, RangeFetcher

log = structlog.get_logger(__name__)

_fetcher: RangeFetcher | None = None  # one per worker process, made by _init
_started_before = False  # whether this process has started a pool (its fork server runs)


def _init(
    rpc_url: str, timeout: float, contracts: dict[str, str], chain_id: int, max_logs: int | None
) -> None:
    global _fetcher  # noqa: PLW0603 - the worker process's only state
    become_worker()
    decoder = EventDecoder(contracts)
    _fetcher = RangeFetcher(RpcClient(rpc_url, timeout), decoder, chain_id, max_logs)


def _fetch(start: int, end: int) -> EncodedBatch:
    assert _fetcher is not None, "worker not initialised"
    return _fetcher.fetch_encoded(start, end)


def _ready(_: int) -> bool:
    return _fetcher is not None


class FetchPool:
    """`processes` workers that fetch ranges of one chain: ``submit(start, end)`` returns
    a future of the range's ``EncodedBatch`` (or of its ``RpcError``); `max_logs` as in
    ``RangeFetcher``."""

    def __init__(
        self,
        rpc: RpcClient,
        contracts: dict[str, str],
        chain_id: int,
        processes: int,
        max_logs: int | None = None,
    ) -> None:
        context = forkserver_context(__name__)  # preloads take effect when it starts
        self._processes = processes
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=context,
            initializer=_init,
            initargs=(rpc.url, rpc.timeout, contracts, chain_id, max_logs),
        )

    def submit(self, start: int, end: int) -> Future[EncodedBatch]:
        """Fetch, decode and encode blocks `start`..`end` in a worker."""
        return self._pool.submit(_fetch, start, end)

    def warm_up(self) -> None:
        """Start and initialise every worker now (blocks: ~1 s the first time a process
        starts a pool, while the fork server imports; milliseconds after that)."""
        global _started_before  # noqa: PLW0603
        if not all(self._pool.map(_ready, range(self._processes))):
            raise RuntimeError("backfill workers did not initialise")
        _started_before = True

    def close(self) -> None:
        """Stop the workers (ranges not started are dropped; running ones finish)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FetchPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FetchSource:
    """Where backfill fetches ranges: threads of this process until the worker pool,
    started in the background, is ready; then the pool. So the pool's start (seconds, the
    first time) overlaps useful work instead of delaying the backfill. A pool that fails to
    start is logged and the threads carry on. Ranges come back as ``EncodedBatch`` values
    when `encoded` (the store takes them; required with `processes`), else as ``Batch``."""

    def __init__(
        self,
        fetcher: RangeFetcher,
        concurrency: int,
        contracts: dict[str, str],
        processes: int,
        encoded: bool,
    ) -> None:
        assert encoded or not processes, "workers only produce encoded batches"
        self._fetcher = fetcher
        self._fetch: Callable[[int, int], Batch | EncodedBatch] = (
            fetcher.fetch_encoded if encoded else fetcher.fetch
        )
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="getlogs")
        self._lock = threading.Lock()
        self._closed = False
        self._pool: FetchPool | None = None
        if processes > 0 and _started_before:
            self._start_pool(contracts, processes)  # the fork server runs: ~50 ms
        elif processes > 0:
            threading.Thread(
                target=self._start_pool, args=(contracts, processes), name="fetch-pool-start",
                daemon=True,
            ).start()  # fmt: skip

    def _start_pool(self, contracts: dict[str, str], processes: int) -> None:
        fetcher = self._fetcher
        pool = FetchPool(fetcher.rpc, contracts, fetcher.chain_id, processes, fetcher.max_logs)
        try:
            pool.warm_up()
        except Exception as exc:  # degrade to threads: never stop indexing for this
            log.warning("indexer.workers.unavailable", error=repr(exc)[:200])
            pool.close()
            return
        with self._lock:
            if self._closed:
                pool.close()
            else:
                self._pool = pool
                log.info("indexer.workers.ready", processes=processes)

    def submit(self, start: int, end: int) -> Future[Batch | EncodedBatch]:
        """Fetch blocks `start`..`end`: a ``Batch`` from a thread, or an ``EncodedBatch``
        from a worker process."""
        pool = self._pool
        if pool is not None:
            return cast("Future[Batch | EncodedBatch]", pool.submit(start, end))
        return self._threads.submit(self._fetch, start, end)

    def close(self) -> None:
        """Stop fetching: wait for running fetches, drop queued ones, stop the workers.
        A pool still starting is not waited for: its starter thread stops it when ready."""
        with self._lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.close()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FetchSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
