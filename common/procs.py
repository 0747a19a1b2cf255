"""Worker processes: from one shared ``forkserver`` or forked; preloads, parent watch,
signals.

Worker pools (backfill fetchers, replay groups) come from a ``forkserver`` context: their
parents have threads and open connections, which a plain fork would copy (a held lock, a
libpq socket a child could close under the parent). The server starts once per parent
process, importing the preloaded modules once; it then forks warm workers in milliseconds.
A parent that has no thread at all when it starts its workers (a replay run by `datacoin
replay`) forks them itself instead (``worker_context``): nothing to wait for.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.context import ForkContext, ForkServerContext


@dataclass
class _ForkServerRequests:
    """What this process asked of its fork server (multiprocessing has no public query)."""

    preloads: set[str] = field(default_factory=set)
    #: Set by the first ``forkserver_context``: the server runs, or starts with the first
    #: process started from that context (every caller starts its workers at once).
    made: bool = False


_requests = _ForkServerRequests()


def _main_module() -> list[str]:
    """For ``python -m NAME``: NAME. multiprocessing makes each child re-run the parent's
    main module; with its imports already done in the server that costs milliseconds
    (``common._forkserver`` silences runpy's warning about it). A main given by path (a
    script) is still re-run by each worker, at its own cost."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name and name != "__main__" and not name.endswith(".__main__"):
        return [name]
    return []


def forkserver_context(*modules: str) -> ForkServerContext:
    """The forkserver context, with `modules` added to what its server preloads (every
    caller's modules: the server is shared; additions after it started take no effect).
    ``common._forkserver`` always comes first: it makes the server ignore SIGTERM."""
    _requests.preloads.update(modules)
    _requests.made = True
    context = multiprocessing.get_context("forkserver")
    preload = ["common._forkserver", *_main_module(), *sorted(_requests.preloads)]
    context.set_forkserver_preload(preload)
    return context


def single_threaded() -> bool:
    """Whether this process runs one thread only, counting threads started outside
    Python too (a native library's pool), where Linux tells (/proc/self/task)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def forkserver_running() -> bool:
    """Whether this process has a fork server: one was asked for through
    :func:`forkserver_context` (its server starts with the first process started from it)."""
    return _requests.made


def worker_context(*modules: str) -> ForkContext | ForkServerContext:
    """``fork`` while this process is single-threaded and has no fork server running,
    else ``forkserver_context(*modules)``.

    A fork copies the whole process: with a second thread, a lock it held (stdout's, the
    allocator's) stays held in the child forever. Without one, what a fork copies is safe
    (an open libpq socket is never closed by the child: workers end with ``os._exit``), and
    the child starts in milliseconds with every module imported, where a cold fork server
    first imports them again (~0.35-0.7 s). A running server is still the better choice:
    after a fork, every page of its heap the parent reuses is copied on its first write
    (a replay of 100k events in a process with a warm 200 MB heap: 44k page faults and
    ~0.1 s more CPU; a server's workers share nothing with it).
    """
    if single_threaded() and not forkserver_running():
        return multiprocessing.get_context("fork")
    return forkserver_context(*modules)


def _exit_when_parent_dies() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


def become_worker() -> None:
    """Call first in a worker process: ignore SIGINT/SIGTERM (a terminal's Ctrl-C or a
    service manager signals the whole process group; the parent decides when workers
    stop), and exit as soon as the parent is gone, even after its ``kill -9`` (a worker
    waiting for its next task would otherwise wait forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_when_parent_dies, name="parent-watch", daemon=True).start()
