"""Commit on a thread of its own, in order, so that fetching never waits for PostgreSQL.

Backfill's main loop hands over each run of ready batches (one transaction each) and goes
straight back to scheduling ranges, so the fetch processes stay busy while the database writes.
The queue is bounded: when the database falls behind, ``put`` blocks and fetching pauses
there (memory stays bounded).

Errors: the first exception raised by `commit` stops the thread (nothing after the failed
group is committed) and is raised again by the next ``put`` or by ``close``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_STOP = None  # queued by close(): commit what came before, then end (see _run)
_POLL_S = 0.1  # how often a blocked put() checks whether the thread has failed


class Committer(Generic[T]):
    """Calls `commit(items)` on a background thread for the items ``put``, in order."""

    def __init__(self, commit: Callable[[list[T]], None], max_pending: int = 2) -> None:
        self._commit = commit
        self._queue: queue.Queue[list[T] | None] = queue.Queue(max_pending)
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name="committer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            items = self._queue.get()
            if items is None or self._abort.is_set():  # None: the stop marker
                return
            try:
                self._commit(items)
            except BaseException as exc:  # handed to the caller's thread by put/close
                self._error = exc
                return

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, items: list[T]) -> None:
        """Queue `items` for commit (blocks while `max_pending` groups wait)."""
        while True:
            self._check()
            if not self._thread.is_alive():
                raise RuntimeError("the committer thread has stopped")
            try:
                self._queue.put(items, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Commit everything queued, stop the thread, raise its error if it had one."""
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._check()

    def abort(self) -> None:
        """Stop after the commit in progress; what is still queued is dropped (it was
        never committed, so a restart fetches it again)."""
        self._abort.set()
        while True:  # empty the queue so that the stop marker fits
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self.close_quietly()

    def close_quietly(self) -> None:
        """``close`` without raising (when an error is already on its way)."""
        with contextlib.suppress(BaseException):
            self.close()

    def __enter__(self) -> Committer[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
