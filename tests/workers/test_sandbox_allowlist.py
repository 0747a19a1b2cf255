"""The bubblewrap sandbox shows the host by allow-list: a file anywhere else, even one put
in a directory nobody thought to hide, cannot be read or even stat'ed from inside, while
what a training job needs (the interpreter, its packages, the training code) is there."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import SANDBOX_UID
from tests.workers.conftest import REPO
from workers.sandbox.base import Limits, SandboxJob, SandboxResult, make_workdir, run
from workers.sandbox.bubblewrap import BubblewrapSandbox

UID = SANDBOX_UID
LIMITS = Limits(cpu_seconds=60, memory_bytes=4 << 30, max_processes=32, wall_seconds=60.0)

#: Tries to stat and read each path given; prints {path: "read" or the error's name}.
PROBE = """
import json, sys
seen = {}
for path in sys.argv[1:]:
    try:
        open(path).read()
        seen[path] = "read"
    except OSError as exc:
        seen[path] = type(exc).__name__
    try:
        __import__("os").stat(path)
    except OSError:
        pass
    else:
        seen[path] += "+stat"
print(json.dumps(seen))
"""


@pytest.fixture
def host_secrets(bubblewrap: None) -> Iterator[list[Path]]:
    """World-readable secrets made now, in places no deny-list names: a new directory under
    /opt, /etc, the repo's parent, the repo, the code's package dir, the venv, beside the
    interpreter's own installation. Only the sandbox can keep them out, not permissions."""
    tag = uuid.uuid4().hex[:12]
    new_dir = Path(f"/opt/secret-{tag}")
    files = [
        new_dir / "key",
        Path(f"/etc/{tag}-secret"),
        REPO.parent / f"{tag}-secret",
        REPO / f"{tag}-secret",
        REPO / "workers" / f"{tag}-secret",
        Path(sys.prefix) / f"{tag}-secret",
        Path(sys.base_prefix).parent / f"{tag}-secret",
    ]
    try:
        new_dir.mkdir(mode=0o755)
        for path in files:
            path.write_text(f"secret {tag}")
            path.chmod(0o644)
        yield files
    finally:
        for path in files:
            path.unlink(missing_ok=True)
        shutil.rmtree(new_dir, ignore_errors=True)


def run_in_sandbox(
    tmp_path: Path, argv: list[str], env: dict[str, str] | None = None
) -> SandboxResult:
    """Run `argv` in a fresh job dir under `tmp_path` (its ``in/data.csv`` holds a row)."""
    workdir = make_workdir(tmp_path, f"job-{uuid.uuid4().hex[:8]}", UID)
    (workdir / "in" / "data.csv").write_text("a,b\n1,2\n")
    sandbox = BubblewrapSandbox(uid=UID, hide=(tmp_path,))
    return run(sandbox, SandboxJob(argv, workdir, LIMITS, env=env or {}))


def test_a_secret_outside_the_allow_list_cannot_be_read_or_stated(
    tmp_path: Path, host_secrets: list[Path]
) -> None:
    # Given fresh secrets all over the host, and the job's own input as a control
    paths = [*map(str, host_secrets), "in/data.csv"]
    # When a sandboxed program tries to read and stat each
    result = run_in_sandbox(tmp_path, [sys.executable, "-c", PROBE, *paths])
    # Then it reads its input, and no secret exists for it
    assert result.ok, result
    seen = orjson.loads(result.stderr_tail.strip().splitlines()[-1])
    assert seen.pop("in/data.csv") == "read+stat"
    assert seen == dict.fromkeys(map(str, host_secrets), "FileNotFoundError")


def test_the_training_code_and_its_libraries_are_there_the_platform_code_is_not(
    tmp_path: Path, bubblewrap: None
) -> None:
    # Given the training program's imports (as `python -m workers.training.entry` makes them)
    code = """
import numpy, pyarrow.csv, safetensors.torch, torch
from workers.training import artifact, data, entry, fit, spec, version
print(torch.ones(3).sum().item(), version.code_version()[:7])
try:
    import common.settings
except ModuleNotFoundError as exc:
    print("hidden", exc.name)
"""
    # When they run in the sandbox with the repo on PYTHONPATH
    result = run_in_sandbox(tmp_path, [sys.executable, "-c", code], {"PYTHONPATH": str(REPO)})
    # Then torch works and the training code is importable, but the platform's code (which
    # reads settings and keys) is not even there
    assert result.ok, result
    assert result.stderr_tail.split() == ["3.0", "sha256:", "hidden", "common"], result


def test_the_sandboxed_root_is_read_only(tmp_path: Path, bubblewrap: None) -> None:
    # Given an unprivileged program (or, started by a non-root worker, its own user namespace)
    code = """
import os
failed = []
for path in ["/escaped", "/etc/escaped", "/usr/escaped"]:
    try:
        open(path, "w").write("x")
    except OSError as exc:
        failed.append(type(exc).__name__)
print(len(failed), os.access("/tmp", os.W_OK), os.access("out", os.W_OK))
"""
    # When it writes outside /tmp and its out/ directory
    result = run_in_sandbox(tmp_path, [sys.executable, "-c", code])
    # Then every write fails, and /tmp and out/ stay writable
    assert result.ok, result
    assert result.stderr_tail.split() == ["3", "True", "True"], result
    assert os.geteuid() != 0 or not Path("/escaped").exists()
