"""Backfill fetch processes: fetch, decode and encode block ranges off the main process.

Per-log work (JSON parsing, decoding, encoding rows) is spread over a few processes, so it
is not serialised by the main process's GIL; the main process keeps only what must be
sequential: numbering, the hash chain, COPY and commit (``append_encoded``). Results come
back as ``EncodedBatch`` values (lists of bytes: cheap to pickle) and ``backfill`` hands
them to the runner strictly in range order, whatever order the processes finish in.

Processes come from the shared ``forkserver`` (common/procs.py) with this module preloaded:
started once per parent process, it forks warm processes in milliseconds for every pool after
that. Each process runs a few fetch threads (so that `concurrency` ranges are in flight,
whatever the number of processes), each with its own JSON-RPC connection. They ignore
SIGINT and SIGTERM and exit as soon as the parent is gone, even after ``kill -9``
(``become_worker``).
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from types import TracebackType
from typing import cast

import structlog

from common.procs import become_worker, forkserver_context
from indexer.decode import EventDecoder
from indexer.rpc import RpcClient
from indexer.sync import Batch, EncodedBatch, RangeFetcher

log = structlog.get_logger(__name__)

_fetcher: RangeFetcher | None = None  # one per fetch process, made by _init
_started_before = False  # whether this process has started a pool (its fork server runs)
_READY = -1  # the key of a process's "initialised" message
_CHECK_EVERY_S = 0.2  # how often the collector looks for dead fetch processes

#: (key, start, end) of a range to fetch; None: a fetch thread stops.
Task = tuple[int, int, int] | None
#: (key, whether it worked, the EncodedBatch or the exception / the process's pid).
Outcome = tuple[int, bool, object]


def _init(
    rpc_url: str, timeout: float, contracts: dict[str, str], chain_id: int, max_logs: int | None
) -> None:
    global _fetcher  # noqa: PLW0603 - the fetch process's only state
    become_worker()
    decoder = EventDecoder(contracts)
    _fetcher = RangeFetcher(RpcClient(rpc_url, timeout), decoder, chain_id, max_logs)


def _fetch(start: int, end: int) -> EncodedBatch:
    assert _fetcher is not None, "fetch process not initialised"
    return _fetcher.fetch_encoded(start, end)


def _sendable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (RpcError does), else a RuntimeError that says what
    it was: an exception the result queue cannot carry would be lost, its range waited
    for forever."""
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _serve(
    tasks: Queue[Task],
    results: Queue[Outcome],
    stopping: EventType,
    threads: int,
    initargs: tuple[str, float, dict[str, str], int, int | None],
) -> None:
    """A fetch process: `threads` threads take ranges from `tasks` and put what they
    fetched on `results`. Threads, because a range spends most of its time waiting for the
    node: decoding (the GIL's share) is what needs the processes."""
    _init(*initargs)
    results.put((_READY, True, os.getpid()))

    def work() -> None:
        while (task := tasks.get()) is not None:
            key, start, end = task
            if stopping.is_set():
                continue  # closing: ranges not started are dropped
            try:
                results.put((key, True, _fetch(start, end)))
            except Exception as exc:
                results.put((key, False, _sendable(exc)))

    threads_ = [threading.Thread(target=work, name=f"fetch-{i}") for i in range(threads)]
    for thread in threads_:
        thread.start()
    for thread in threads_:
        thread.join()


class FetchPool:
    """`processes` processes that fetch ranges of one chain, `threads` ranges at a time each:
    ``submit(start, end)`` returns a future of the range's ``EncodedBatch`` (or of its
    ``RpcError``); `max_logs` as in ``RangeFetcher``.

    (``ProcessPoolExecutor`` runs one call per process at a time: with 2 processes, 4
    ranges in flight were 2.) A process that dies fails every range not yet answered with
    ``BrokenProcessPool``, as ``ProcessPoolExecutor`` would."""

    def __init__(
        self,
        rpc: RpcClient,
        contracts: dict[str, str],
        *,
        chain_id: int,
        processes: int,
        max_logs: int | None = None,
        threads: int = 1,
    ) -> None:
        context = forkserver_context(__name__)  # preloads take effect when it starts
        self._threads = threads
        self._timeout = rpc.timeout
        self._tasks: Queue[Task] = context.Queue()
        self._results: Queue[Outcome] = context.Queue()
        self._stopping = context.Event()
        self._lock = threading.Lock()
        self._futures: dict[int, Future[EncodedBatch]] = {}
        self._keys = itertools.count()
        self._ready = 0
        self._ready_changed = threading.Condition(self._lock)
        self._broken: str | None = None
        self._closing = False
        initargs = (rpc.url, rpc.timeout, contracts, chain_id, max_logs)
        self._processes = [
            context.Process(
                target=_serve,
                args=(self._tasks, self._results, self._stopping, threads, initargs),
                name=f"fetch-process-{i}",
                daemon=True,
            )
            for i in range(processes)
        ]
        for process in self._processes:
            process.start()
        self._collector = threading.Thread(target=self._collect, name="fetch-results", daemon=True)
        self._collector.start()

    def submit(self, start: int, end: int) -> Future[EncodedBatch]:
        """Fetch, decode and encode blocks `start`..`end` in a fetch process."""
        future: Future[EncodedBatch] = Future()
        with self._lock:
            if self._broken is not None:
                raise BrokenProcessPool(self._broken)
            if self._closing:
                raise RuntimeError("fetch pool is closed")
            key = next(self._keys)
            self._futures[key] = future
        self._tasks.put((key, start, end))
        return future

    def _collect(self) -> None:
        """Hand each outcome to its future; notice dead processes. Runs until the processes are
        gone after ``close`` (it drains their results so that none blocks on a full pipe)."""
        checked = time.monotonic()
        while True:
            # Liveness is checked every 0.2 s even while results flow: the surviving
            # processes (and the backfill's hedges) can keep the queue busy for the whole
            # run, and a dead process's ranges would then wait unanswered until close.
            if time.monotonic() - checked >= _CHECK_EVERY_S:
                checked = time.monotonic()
                if self._check_processes():
                    return
            try:
                key, ok, value = self._results.get(timeout=_CHECK_EVERY_S)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            if key == _READY:
                with self._lock:
                    self._ready += 1
                    self._ready_changed.notify_all()
                continue
            with self._lock:
                future = self._futures.pop(key, None)
            if future is None or not future.set_running_or_notify_cancel():
                continue  # cancelled by close()
            if ok:
                future.set_result(cast("EncodedBatch", value))
            else:
                future.set_exception(cast("BaseException", value))

    def _check_processes(self) -> bool:
        """Fail everything pending if a process died; whether the collector is done."""
        dead = [p for p in self._processes if not p.is_alive()]
        with self._lock:
            if self._closing:
                return len(dead) == len(self._processes)
            if not dead or self._broken is not None:
                return False
            self._broken = f"fetch process {dead[0].name} exited with code {dead[0].exitcode}"
            pending = list(self._futures.values())
            self._futures.clear()
            self._ready_changed.notify_all()
        log.error("indexer.fetch_pool.died", reason=self._broken)
        for future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(BrokenProcessPool(self._broken))
        return False

    @property
    def pids(self) -> list[int]:
        """The ids of the fetch processes."""
        return [p.pid for p in self._processes if p.pid is not None]

    def warm_up(self, timeout: float = 60.0) -> None:
        """Wait until every process is initialised (~1 s the first time a process starts a
        pool, while the fork server imports; milliseconds after that)."""
        global _started_before  # noqa: PLW0603
        with self._lock:
            ok = self._ready_changed.wait_for(
                lambda: self._ready == len(self._processes) or self._broken is not None, timeout
            )
            if not ok or self._broken is not None:
                raise RuntimeError(f"fetch processes did not initialise: {self._broken}")
        _started_before = True

    def close(self) -> None:
        """Stop the processes: ranges not started are dropped, running ones finish (each
        within the per-request timeout), every future not yet answered is cancelled."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            pending = list(self._futures.values())
            self._futures.clear()
        for future in pending:
            future.cancel()
        self._stopping.set()
        if any(not process.is_alive() for process in self._processes):
            # A process killed inside ``tasks.get()`` dies holding the queue's shared read
            # lock: the others would wait on it until the join below gave up (35 s at a
            # 10 s request timeout). A broken pool's ranges have all failed (or are
            # cancelled above): stop the rest now.
            for process in self._processes:
                if process.is_alive():
                    process.kill()
        for _ in range(len(self._processes) * self._threads):
            self._tasks.put(None)
        for process in self._processes:
            process.join(timeout=self._timeout * 3 + 5)
            if process.is_alive():  # a range stuck past every timeout: don't hang on it
                process.kill()
                process.join()
        self._collector.join()
        for q in (self._tasks, self._results):
            q.cancel_join_thread()
            q.close()

    def __enter__(self) -> FetchPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: Seconds ``FetchSource.close`` waits for a pool still starting (a cold start takes ~1 s).
STARTER_JOIN_S = 10.0


class FetchSource:
    """Where backfill fetches ranges: threads of this process until the process pool,
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
        assert encoded or not processes, "fetch processes only produce encoded batches"
        self._fetcher = fetcher
        self._concurrency = concurrency
        self._fetch: Callable[[int, int], Batch | EncodedBatch] = (
            fetcher.fetch_encoded if encoded else fetcher.fetch
        )
        # One thread more than `concurrency`: the backfill's hedge of a late head-of-line
        # range must not queue behind the very request it works around.
        self._threads = ThreadPoolExecutor(concurrency + 1, thread_name_prefix="getlogs")
        self._lock = threading.Lock()
        self._closed = False
        self._pool: FetchPool | None = None
        self._starter: threading.Thread | None = None
        if processes > 0 and _started_before:
            self._start_pool(contracts, processes)  # the fork server runs: ~50 ms
        elif processes > 0:
            self._starter = threading.Thread(
                target=self._start_pool,
                args=(contracts, processes),
                name="fetch-pool-start",
                daemon=True,
            )
            self._starter.start()

    def _start_pool(self, contracts: dict[str, str], processes: int) -> None:
        fetcher = self._fetcher
        # Enough threads per process that `concurrency` ranges can be in flight at once,
        # plus the backfill's hedge (see above).
        threads = -(-(self._concurrency + 1) // processes)
        pool = FetchPool(
            fetcher.rpc,
            contracts,
            chain_id=fetcher.chain_id,
            processes=processes,
            max_logs=fetcher.max_logs,
            threads=threads,
        )
        try:
            pool.warm_up()
        except Exception as exc:  # degrade to threads: never stop indexing for this
            log.warning("indexer.fetch_pool.unavailable", error=repr(exc)[:200])
            pool.close()
            return
        with self._lock:
            if self._closed:
                pool.close()
            else:
                self._pool = pool
                log.info("indexer.fetch_pool.ready", processes=processes)

    def submit(self, start: int, end: int) -> Future[Batch | EncodedBatch]:
        """Fetch blocks `start`..`end`: a ``Batch`` from a thread, or an ``EncodedBatch``
        from a fetch process."""
        pool = self._pool
        if pool is not None:
            return cast("Future[Batch | EncodedBatch]", pool.submit(start, end))
        return self._threads.submit(self._fetch, start, end)

    def close(self) -> None:
        """Stop fetching: wait for running fetches, drop queued ones, stop the processes.
        A pool still starting is waited for (its starter thread stops it once ready): a
        process that exited meanwhile would leave its workers unpickling queues whose
        semaphores are gone (a FileNotFoundError traceback from each, on a quick SIGTERM)."""
        with self._lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.close()
        if self._starter is not None:
            self._starter.join(timeout=STARTER_JOIN_S)
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
