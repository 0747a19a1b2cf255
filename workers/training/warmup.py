"""Byte-compile what the sandbox imports, once, where the worker can write.

Inside the sandbox the system is read-only, so a package installed without ``.pyc`` files
(``uv pip install`` writes none unless ``--compile-bytecode``) is compiled from source on
every job: about half a second of start-up per job. The worker compiles them at start.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)
SANDBOX_PACKAGES = (
    "numpy",
    "pyarrow",
    "pydantic",
    "pydantic_core",
    "safetensors",
    "orjson",
    "annotated_types",
    "typing_inspection",
    "typing_extensions",
    "torch",
    "PIL",
)
# TensorFlow and Keras are pip-installed (requirements-tensorflow.txt), which compiles
# them: walking TensorFlow's ~1.3 GB tree here would cost seconds at every worker start.


def _location(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def warm_bytecode() -> None:
    """Compile the sandbox's packages and our training code (best effort, logged)."""
    targets = [Path(__file__).parent, *filter(None, map(_location, SANDBOX_PACKAGES))]
    for target in targets:
        if not os.access(target, os.W_OK):
            continue
        if target.is_dir():
            ok = compileall.compile_dir(target, quiet=2, workers=1)
        else:
            ok = compileall.compile_file(target, quiet=2)
        if not ok:
            log.debug("worker.bytecode.partial", path=str(target))
