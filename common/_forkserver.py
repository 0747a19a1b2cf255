"""Imported first by the worker processes' fork server (``common.procs.forkserver_context``)
and by nothing else: settings for that server process, inherited by every worker it forks.

It makes the server ignore SIGTERM (see below), before the other preloads are imported.

The server also preloads the parent's main module (``python -m NAME``), so that each worker
re-running it as ``__mp_main__`` (what multiprocessing does in every child) costs nothing.
runpy then warns that NAME is already imported; that is expected here, so the warning is
silenced, in the fork server and its workers only.
"""

import signal
import warnings

# SIGTERM to the parent's process group (systemd, Docker, `kill -- -PGID`) reaches this
# server too. Its death would break every pool it served (a ProcessPoolExecutor watches
# its workers through the server: BrokenProcessPool) while the parent is still stopping
# cleanly; so, like its workers (``common.procs.become_worker``), it leaves the decision
# to the parent: it exits when the parent is gone. SIGINT it already ignores.
signal.signal(signal.SIGTERM, signal.SIG_IGN)

warnings.filterwarnings(
    "ignore",
    message=r".* found in sys\.modules after import of package .*",
    category=RuntimeWarning,
    module="runpy",
)
