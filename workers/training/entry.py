"""The program that runs inside the sandbox: ``python -m workers.training.entry``.

Contract with the worker outside (paths relative to the job dir, the working directory):

- ``DATACOIN_FRAMEWORK`` (``pytorch``, the default, or ``tensorflow``) names the framework
  it imports first, then it waits for ``in/ready`` (so the slow import overlaps the
  worker's fetch and decryption, or the wait for a job when it was started as a spare);
  unused for ``DATACOIN_IDLE_SECONDS`` it exits with status 3;
- it reads ``in/spec.json`` (whose ``framework`` must be the one imported) and
  ``in/dataset.<format>`` (a table, or a zip / tar image archive);
- it writes ``out/model.safetensors`` (PyTorch) or ``out/model.keras`` (TensorFlow),
  ``out/metrics.json`` (canonical JSON) and ``out/run.json`` (framework, model format,
  train loss, loop seconds, device, code and library versions), and exits 0;
- on input that does not fit the spec it writes ``out/error.json`` and exits 2.

It has no network, no secrets and no other files: the data was decrypted outside.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

READY = Path("in/ready")
BAD_INPUT = 2
IDLE = 3
#: The module that trains with each framework (each has make_deterministic and train).
TRAINERS = {"pytorch": "workers.training.fit", "tensorflow": "workers.training.keras_fit"}


def _wait_ready(idle_seconds: float, poll: float = 0.002) -> bool:
    deadline = time.monotonic() + idle_seconds
    while not READY.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
        poll = min(poll * 2, 0.02)
    return True


def _bad_input(out: Path, reason: str) -> int:
    from workers.training.canonical import canonical_json

    (out / "error.json").write_bytes(canonical_json({"error": reason[:2000]}))
    return BAD_INPUT


def main() -> int:
    """Train as the spec says; see the module docstring for the file contract."""
    framework = os.environ.get("DATACOIN_FRAMEWORK", "pytorch")
    if framework not in TRAINERS:
        sys.stderr.write(f"training.entry: unknown framework {framework!r}\n")
        return BAD_INPUT
    trainer = importlib.import_module(TRAINERS[framework])
    trainer.make_deterministic()

    from pydantic import ValidationError

    from workers.training.canonical import canonical_json
    from workers.training.data import DataError, load_arrays
    from workers.training.spec import parse_spec
    from workers.training.trained import MODEL_FILES, Trained
    from workers.training.version import code_version, library_versions

    if not _wait_ready(float(os.environ.get("DATACOIN_IDLE_SECONDS", "3600"))):
        return IDLE
    out = Path("out")
    try:
        spec = parse_spec(Path("in/spec.json").read_bytes())
        if spec.framework != framework:
            return _bad_input(out, f"this sandbox runs {framework}, the spec {spec.framework}")
        (dataset,) = sorted(Path("in").glob("dataset.*"))
        data = load_arrays(dataset, dataset.suffix.lstrip("."), spec)
    except (DataError, ValidationError, ValueError) as exc:
        return _bad_input(out, str(exc))
    code = code_version()
    train: Callable[..., Trained] = trainer.train
    result = train(spec, data, os.environ.get("DATACOIN_DEVICE", "auto"), code)
    (out / MODEL_FILES[result.model_format]).write_bytes(result.model)
    (out / "metrics.json").write_bytes(canonical_json(result.metrics))
    run: dict[str, Any] = {
        "framework": framework,
        "model_format": result.model_format,
        "train_loss": result.train_loss,
        "train_seconds": result.seconds,
        "device": result.device,
        "code_version": code,
        "libraries": library_versions(framework),
    }
    (out / "run.json").write_bytes(canonical_json(run))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    sys.stderr.write(f"training.entry.done status={status} s={time.perf_counter() - started:.3f}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # Every output is written and closed: skip the interpreter's and the framework's
    # teardown (about 0.35 s with TensorFlow loaded, measured), which decides nothing.
    os._exit(status)
