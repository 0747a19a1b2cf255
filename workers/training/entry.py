"""The program that runs inside the sandbox: ``python -m workers.training.entry``.

Contract with the worker outside (paths relative to the job dir, the working directory):

- it imports torch first, then waits for ``in/ready`` (so the slow import overlaps the
  worker's fetch and decryption, or the wait for a job when it was started as a spare);
  unused for ``DATACOIN_IDLE_SECONDS`` it exits with status 3;
- it reads ``in/spec.json`` and ``in/dataset.<format>``;
- it writes ``out/model.safetensors``, ``out/metrics.json`` (canonical JSON) and
  ``out/run.json`` (train loss, loop seconds, device, code and library versions), and exits 0;
- on input that does not fit the spec it writes ``out/error.json`` and exits 2.

It has no network, no secrets and no other files: the data was decrypted outside.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

READY = Path("in/ready")
BAD_INPUT = 2
IDLE = 3


def _wait_ready(idle_seconds: float, poll: float = 0.002) -> bool:
    deadline = time.monotonic() + idle_seconds
    while not READY.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
        poll = min(poll * 2, 0.02)
    return True


def main() -> int:
    """Train as the spec says; see the module docstring for the file contract."""
    from pydantic import ValidationError

    from workers.training.artifact import load_model
    from workers.training.canonical import canonical_json
    from workers.training.data import DataError, read_table, to_tensors
    from workers.training.fit import fit, make_deterministic, pick_device, validation_metrics
    from workers.training.spec import parse_spec
    from workers.training.version import code_version, library_versions

    make_deterministic()
    if not _wait_ready(float(os.environ.get("DATACOIN_IDLE_SECONDS", "3600"))):
        return IDLE
    out = Path("out")
    try:
        spec = parse_spec(Path("in/spec.json").read_bytes())
        (dataset,) = sorted(Path("in").glob("dataset.*"))
        columns = [*spec.features, spec.target]
        data = to_tensors(read_table(dataset, dataset.suffix.lstrip("."), columns), spec)
    except (DataError, ValidationError, ValueError) as exc:
        (out / "error.json").write_bytes(canonical_json({"error": str(exc)[:2000]}))
        return BAD_INPUT
    device = pick_device(os.environ.get("DATACOIN_DEVICE", "auto"))
    code = code_version()
    result = fit(spec, data, device, code)
    raw = result.model.to_bytes()
    metrics = validation_metrics(load_model(raw), data, spec)  # exactly what a verifier gets
    (out / "model.safetensors").write_bytes(raw)
    (out / "metrics.json").write_bytes(canonical_json(metrics))
    run = {
        "train_loss": result.train_loss,
        "train_seconds": result.seconds,
        "device": device.type,
        "code_version": code,
        "libraries": library_versions(),
    }
    (out / "run.json").write_bytes(canonical_json(run))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    sys.stderr.write(f"training.entry.done status={status} s={time.perf_counter() - started:.3f}\n")
    sys.exit(status)
