"""Benchmark: the overhead of a training job around its training loop.

A job = chain checks, sandbox start (bubblewrap, Python, torch import), fetch and CID/hash
verification and decryption of the dataset (overlapping the import), the loop itself,
validation, saving the model, uploading model and card, and the ``logTraining``
transaction. Overhead = the job's wall time minus the training loop (measured inside the
sandbox). Target: median <= 2 s over 20 small jobs.

Per framework (PyTorch, and TensorFlow: Keras 3, the same MLP, a .keras model), three
ways, 20 jobs each: "cold" (each job starts its sandbox), "warm" (one spare sandbox
started ahead, the worker's default; jobs back to back) and "spaced" (the same, jobs
``--gap`` seconds apart). Baseline: the same program as a bare subprocess, no sandbox (what
starting Python and the framework costs without any isolation).

Starts its own anvil and an embedded store in a temporary directory; needs bubblewrap.
Run: ``.venv/bin/python -m bench.training_overhead --jobs 20``; ``--results
bench/RESULTS.md`` replaces (or appends) its section there, between its own markers.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from api.routers.uploads import store_upload
from common.anvil import start_anvil
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import WAD, DeployConfig, deploy_platform
from common.settings import Settings
from storage.open import open_blobs, open_keyring
from workers.sandbox.base import Limits
from workers.sandbox.bubblewrap import BubblewrapSandbox
from workers.training.job import REPO_ROOT, TrainingConfig, TrainingService
from workers.training.ledger import TrainingLedger
from workers.training.warmup import warm_bytecode

START = "<!-- training-overhead:start -->"
END = "<!-- training-overhead:end -->"


def table_csv(rows: int, seed: int = 1) -> bytes:
    """A small classification table."""
    rng = random.Random(seed)
    lines = ["x1,x2,x3,label"]
    for _ in range(rows):
        a, b, c = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
        lines.append(f"{a:.4f},{b:.4f},{c:.4f},{'yes' if a + 0.5 * b > 0 else 'no'}")
    return ("\n".join(lines) + "\n").encode()


FRAMEWORKS = ("pytorch", "tensorflow")
#: What the worker adds to a TensorFlow sandbox's environment (workers.training.job).
TF_ENV = {"KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}


def spec(seed: int, framework: str = "pytorch") -> dict[str, Any]:
    """A small job: 2 epochs of an MLP on a few hundred rows."""
    return {
        "framework": framework,
        "task": "classification",
        "target": "label",
        "features": ["x1", "x2", "x3"],
        "model": {"kind": "mlp", "hidden_sizes": [16]},
        "epochs": 2,
        "batch_size": 32,
        "learning_rate": 0.05,
        "validation_split": 0.2,
        "seed": seed,
    }


class Bench:
    """A deployed platform, a listed dataset, a staked worker and its training service."""

    def __init__(self, root: Path, rows: int, spares: int, framework: str) -> None:
        self.framework = framework
        self.node = start_anvil()
        w3 = connect(self.node.url)
        deployer = Transactor(w3, dev_account(0))
        self.client = ChainClient(w3, deploy_platform(deployer, DeployConfig()))
        data_dir = root / "data"
        data_dir.mkdir(parents=True)
        self.settings = Settings(rpc_url=self.node.url, data_dir=data_dir)
        self.blobs, keyring = open_blobs(self.settings), open_keyring(self.settings)
        self.data = table_csv(rows)
        fields: dict[str, Any] = {
            "title": "bench",
            "category": "tabular",
            "description": "",
            "tags": [],
            "license": None,
        }
        doc, meta = store_upload(
            settings=self.settings,
            blobs=self.blobs,
            keyring=keyring,
            source=io.BytesIO(self.data),
            filename="bench.csv",
            fields=fields,
            encrypted=True,
        )
        c = self.client.contract
        provider, buyer, worker = (Transactor(w3, dev_account(i)) for i in (1, 2, 7))
        for who in (provider, buyer, worker):
            deployer.send(c("DataCoin").functions.transfer(who.address, 100_000 * WAD))
        provider.send(
            c("Marketplace").functions.listDataset(
                meta, bytes.fromhex(doc.content_sha256), "tabular", WAD, 0
            )
        )
        buyer.send(c("DataCoin").functions.approve(c("Marketplace").address, 2**255))
        buyer.send(c("Marketplace").functions.purchase(1, 2**255))
        buyer.send(c("DataCoin").functions.approve(c("TrainingLog").address, 2**255))
        deployer.send(c("TrainingLog").functions.registerWorker(worker.address))
        worker.send(c("DataCoin").functions.approve(c("Staking").address, 2**255))
        worker.send(c("Staking").functions.stake(1_000 * WAD))
        self.buyer = buyer
        work = root / "work"
        sandbox = BubblewrapSandbox(hide=(data_dir, work))
        sandbox.check()
        config = TrainingConfig(work_root=work, limits=Limits(), device="cpu", spares=spares)
        ledger = TrainingLedger(self.client, worker)
        self.service = TrainingService(ledger, self.blobs, keyring, sandbox, config)

    def request(self, seed: int) -> int:
        cid = self.blobs.put([orjson.dumps(spec(seed, self.framework))]).cid
        training = self.client.contract("TrainingLog")
        self.buyer.send(training.functions.requestTraining(1, cid, WAD))
        return int(training.functions.jobCount().call())

    def close(self) -> None:
        self.service.close()
        self.node.stop()


def bare_process(root: Path, data: bytes, seed: int, framework: str) -> tuple[float, float]:
    """(wall, loop) of the training program run as a plain subprocess, no sandbox."""
    job = root / f"bare-{framework}-{seed}"
    (job / "in").mkdir(parents=True)
    (job / "out").mkdir()
    (job / "in" / "spec.json").write_bytes(orjson.dumps(spec(seed, framework)))
    (job / "in" / "dataset.csv").write_bytes(data)
    (job / "in" / "ready").touch()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATACOIN_DEVICE": "cpu",
        "DATACOIN_FRAMEWORK": framework,
        "OMP_NUM_THREADS": "1",
        **(TF_ENV if framework == "tensorflow" else {}),
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "workers.training.entry"],
        cwd=job,
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    return wall, float(orjson.loads((job / "out" / "run.json").read_bytes())["train_seconds"])


def median(values: list[float]) -> float:
    """The median, in seconds."""
    return statistics.median(values)


def measure(
    root: Path, jobs: int, rows: int, spares: int, framework: str, *, gap: float = 0.0
) -> list[dict[str, float]]:
    """The timings of `jobs` jobs, `gap` seconds apart (after one warm-up job)."""
    bench = Bench(root, rows, spares, framework)
    try:
        bench.service.run(bench.request(0))
        timings = []
        for i in range(jobs):
            time.sleep(gap)
            outcome = bench.service.run(bench.request(i + 1))
            assert outcome.status == "logged", outcome
            timings.append(outcome.timings)
        return timings
    finally:
        bench.close()


def summary(timings: list[dict[str, float]]) -> dict[str, Any]:
    """Medians per phase, and the overheads."""
    keys = ("total", "train", "check", "prepare", "sandbox", "publish")
    overheads = [t["total"] - t["train"] for t in timings]
    return {
        **{k: median([t[k] for t in timings]) for k in keys},
        "overhead": median(overheads),
        "overheads": overheads,
    }


def run_framework(root: Path, jobs: int, rows: int, gap: float, framework: str) -> dict[str, Any]:
    """Cold, warm and spaced jobs of one framework, and its bare-subprocess baseline."""
    root = root / framework
    cold = summary(measure(root / "cold", jobs, rows, 0, framework))
    warm = summary(measure(root / "warm", jobs, rows, 1, framework))
    spaced = summary(measure(root / "spaced", jobs, rows, 1, framework, gap=gap))
    bare = [bare_process(root, table_csv(rows), i, framework) for i in range(min(jobs, 5))]
    return {
        "cold": cold,
        "warm": warm,
        "spaced": spaced,
        "bare_wall": median([w for w, _ in bare]),
        "bare_overhead": median([w - t for w, t in bare]),
    }


def run(jobs: int, rows: int, gap: float, frameworks: tuple[str, ...]) -> dict[str, Any]:
    """Measure each framework's cold jobs (no spare sandbox), warm ones (one spare) back to
    back and `gap` seconds apart, and its baseline; with the machine's load around it."""
    warm_bytecode()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dc-bench-train-") as tmp:
        results = {f: run_framework(Path(tmp), jobs, rows, gap, f) for f in frameworks}
    return {
        "jobs": jobs,
        "rows": rows,
        "gap": gap,
        "frameworks": results,
        "load": (load, os.getloadavg()[0]),
    }


NAMES = {"pytorch": "PyTorch", "tensorflow": "TensorFlow (Keras 3)"}
ROWS = [
    ("whole job (`TrainingService.run`: checks to receipt)", "total"),
    ("training loop (inside the sandbox)", "train"),
    ("**overhead = whole job - training loop**", "overhead"),
    ("- chain checks (getJob, block time, worker registered and staked)", "check"),
    (
        "- start to data ready (spec, sandbox start; fetch, verify, decrypt under the import)",
        "prepare",
    ),
    ("- start to exit (Python, framework import, load, loop, validation, save)", "sandbox"),
    ("- upload of model and card, pin, `logTraining` and its receipt", "publish"),
]


def _verdict(s: dict[str, Any]) -> str:
    return f"**{s['overhead']:.2f} s**: " + ("met" if s["overhead"] <= 2.0 else "NOT met")


def _framework_section(r: dict[str, Any], framework: str) -> str:
    f = r["frameworks"][framework]
    c, w, g = f["cold"], f["warm"], f["spaced"]
    lines = [f"| {label} | {c[key]:.3f} | {w[key]:.3f} | {g[key]:.3f} |" for label, key in ROWS]
    spread = {
        k: ", ".join(f"{o:.2f}" for o in sorted(f[k]["overheads"]))
        for k in ("cold", "warm", "spaced")
    }
    table = "\n".join(lines)
    return f"""### {NAMES[framework]}

| median over {r["jobs"]} jobs, seconds | cold | warm | spaced |
|---|---:|---:|---:|
{table}

Baseline: the same program as a bare subprocess, no sandbox: {f["bare_wall"]:.3f} s wall,
{f["bare_overhead"]:.3f} s of it outside the loop (Python start and imports, mostly the
framework).

- overhead, target <= 2 s: cold {_verdict(c)}; warm {_verdict(w)}; spaced {_verdict(g)}
- cold, sorted: {spread["cold"]}
- warm, sorted: {spread["warm"]}
- spaced, sorted: {spread["spaced"]}
"""


def report(r: dict[str, Any]) -> str:
    """The numbers as a Markdown section."""
    frameworks = ",".join(r["frameworks"])
    sections = "\n".join(_framework_section(r, f) for f in r["frameworks"])
    return f"""{START}
## Training job overhead (`bench/training_overhead.py`)

Command: `.venv/bin/python -m bench.training_overhead --jobs {r["jobs"]} --rows {r["rows"]} \
--frameworks {frameworks}`.
Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()};
CPU only (no GPU); bubblewrap sandbox, run as root, dropping to an unprivileged uid; anvil
automine; embedded store. Shared with other work (1-minute load average {r["load"][0]:.1f}
before, {r["load"][1]:.1f} after, on 2 cores): numbers are noisy.

Workload: {r["jobs"]} jobs per column, each an MLP (16 hidden) for 2 epochs on a {r["rows"]}-row
encrypted CSV, run and logged on chain by one worker thread, after one warm-up job; the same
spec with `framework` pytorch (a safetensors model) or tensorflow (Keras 3, a .keras model).
"cold": every job starts its own sandbox (`training_spares=0`). "warm": one spare sandbox
(the framework imported, no data) is started ahead and replaced as each job takes it
(`training_spares=1`, the default; a framework's spares start with its first job), jobs
back to back, so a spare has only the previous job's duration to warm up. "spaced": the
same, jobs {r["gap"]:g} s apart.

{sections}{END}"""


def write_results(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md, or append it."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    """Parse arguments, run, print, optionally record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between spaced jobs")
    parser.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="comma-separated: pytorch,tensorflow"
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="also write the section into this file"
    )
    args = parser.parse_args()
    frameworks = tuple(f for f in args.frameworks.split(",") if f)
    section = report(run(args.jobs, args.rows, args.gap, frameworks))
    print(section)
    if args.results is not None:
        write_results(args.results, section)


if __name__ == "__main__":
    main()
