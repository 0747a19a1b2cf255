"""Imported first by the worker processes' fork server (``common.procs.forkserver_context``)
and by nothing else: settings for that server process, inherited by every worker it forks.

The server also preloads the parent's main module (``python -m NAME``), so that each worker
re-running it as ``__mp_main__`` (what multiprocessing does in every child) costs nothing.
runpy then warns that NAME is already imported; that is expected here, so the warning is
silenced, in the fork server and its workers only.
"""

import warnings

warnings.filterwarnings(
    "ignore",
    message=r".* found in sys\.modules after import of package .*",
    category=RuntimeWarning,
    module="runpy",
)
