"""The bubblewrap sandbox against small hostile programs: each escape attempt fails, each
limit stops the program, and the runner reports which one."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.conftest import SANDBOX_UID
from tests.procs import alive, descendants
from tests.workers.conftest import REPO, sandbox_processes
from workers.sandbox.base import Limits, SandboxJob, SandboxResult, make_workdir, run
from workers.sandbox.bubblewrap import BubblewrapSandbox
from workers.training.spares import ProgramSpec, SandboxStarter

SMALL = Limits(
    cpu_seconds=3,
    memory_bytes=512 << 20,
    max_processes=32,
    output_bytes=4 << 20,
    max_output_files=200,
    wall_seconds=4.0,
)
UID = SANDBOX_UID


@pytest.fixture
def root(tmp_path: Path, bubblewrap: None) -> Path:
    """A work root with a secret beside the job dirs (as the data dir would hold keys)."""
    (tmp_path / "platform-keys.json").write_text('{"dev-1": "secret"}')
    return tmp_path


@pytest.fixture
def sandbox(root: Path) -> BubblewrapSandbox:
    return BubblewrapSandbox(uid=UID, hide=(root,))


def run_python(
    sandbox: BubblewrapSandbox, root: Path, code: str, name: str = "job", limits: Limits = SMALL
) -> SandboxResult:
    workdir = make_workdir(root, name, UID)
    (workdir / "in" / "data.csv").write_text("a,b\n1,2\n")
    return run(sandbox, SandboxJob([sys.executable, "-c", code], workdir, limits))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on the host's loopback that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            seen.append(str(peer))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def test_a_program_reads_its_input_and_writes_its_output(
    sandbox: BubblewrapSandbox, root: Path
) -> None:
    code = (
        "import os; data = open('in/data.csv').read(); open('out/copy.csv', 'w').write(data);"
        "print(os.getuid(), os.environ['JOB_DIR'], sorted(os.environ))"
    )
    result = run_python(sandbox, root, code)
    assert result.ok, result
    assert (root / "job" / "out" / "copy.csv").read_text() == "a,b\n1,2\n"
    uid, job_dir, env = result.stderr_tail.split(" ", 2)
    assert int(uid) == (UID if os.geteuid() == 0 else os.geteuid())
    assert job_dir == "/tmp/job"
    assert "DATACOIN" not in env and "REDIS" not in env  # the worker's environment stays out


def test_network_is_unreachable(
    sandbox: BubblewrapSandbox, root: Path, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    result = run_python(sandbox, root, code)
    assert result.failure == "exit" and "ConnectionRefusedError" in result.stderr_tail
    code = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)"
    result = run_python(sandbox, root, code, "job2")
    assert result.failure == "exit" and "unreachable" in result.stderr_tail
    assert seen == []


def test_host_unix_sockets_are_hidden(sandbox: BubblewrapSandbox, root: Path) -> None:
    sockets = [
        p for p in ("/run/postgresql/.s.PGSQL.5432", "/var/run/docker.sock") if Path(p).exists()
    ]
    for n, path in enumerate(sockets or ["/run/postgresql/.s.PGSQL.5432"]):
        code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({path!r})"
        result = run_python(sandbox, root, code, f"job{n}")
        assert result.failure == "exit" and "FileNotFoundError" in result.stderr_tail


def test_writes_outside_the_job_dir_fail_and_secrets_are_hidden(
    sandbox: BubblewrapSandbox, root: Path
) -> None:
    other = make_workdir(root, "other-job", UID)
    (other / "in" / "private.csv").write_text("someone else's data")
    targets = [
        str(root / "escaped"),
        str(Path(__file__).parent / "escaped"),
        "/etc/escaped",
        "/tmp/job/in/escaped",
    ]
    code = f"""
import sys
failed = []
for path in {targets!r}:
    try:
        open(path, 'w').write('x')
    except OSError as exc:
        failed.append(type(exc).__name__)
for path in [{str(root / "platform-keys.json")!r}, {str(other / "in" / "private.csv")!r}]:
    try:
        open(path).read()
        sys.exit('read ' + path)
    except OSError:
        pass
print(failed)
"""
    result = run_python(sandbox, root, code)
    assert result.ok, result
    if os.geteuid() == 0:  # unprivileged, the hidden root is the user's own (empty) tmpfs
        assert result.stderr_tail.count("Error") == len(targets), result.stderr_tail
    assert not (root / "escaped").exists() and not (Path(__file__).parent / "escaped").exists()
    assert not Path("/etc/escaped").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the process limit is per uid: needs root")
def test_a_fork_bomb_is_stopped(sandbox: BubblewrapSandbox, root: Path) -> None:
    code = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    started = time.monotonic()
    result = run_python(sandbox, root, code)
    assert result.failure in {"wall_clock", "cpu_time", "processes"}, result
    assert time.monotonic() - started < SMALL.wall_seconds + 3
    deadline = time.monotonic() + 5
    while sandbox_processes(UID):  # the whole PID namespace dies with the sandbox
        assert time.monotonic() < deadline, sandbox_processes(UID)
        time.sleep(0.05)


def test_forks_past_the_process_limit_fail(sandbox: BubblewrapSandbox, root: Path) -> None:
    code = """
import os, sys, time
children = 0
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    children += 1
"""
    result = run_python(sandbox, root, code)
    assert result.failure == "processes", result


def test_memory_past_the_limit_fails(sandbox: BubblewrapSandbox, root: Path) -> None:
    result = run_python(sandbox, root, "blob = bytearray(1 << 30)")
    assert result.failure == "memory", result


def test_time_limits_stop_the_program(sandbox: BubblewrapSandbox, root: Path) -> None:
    limits = Limits(cpu_seconds=1, wall_seconds=1.5)
    sleeper = run_python(sandbox, root, "import time; time.sleep(60)", "sleep", limits)
    assert sleeper.failure == "wall_clock" and sleeper.wall_seconds < 3, sleeper
    spinner = run_python(sandbox, root, "while True: pass", "spin", Limits(cpu_seconds=1))
    assert spinner.failure == "cpu_time" and spinner.wall_seconds < 5, spinner


def test_output_past_the_limit_fails(sandbox: BubblewrapSandbox, root: Path) -> None:
    big = run_python(sandbox, root, "open('out/big', 'wb').write(b'x' * (8 << 20))", "big")
    assert big.failure == "output_size", big
    assert (root / "big" / "out" / "big").stat().st_size <= SMALL.output_bytes
    code = "[open(f'out/f{i}', 'w').write('x' * 1000) for i in range(100000)]"
    many = run_python(sandbox, root, code, "many")
    assert many.failure == "output_size", many


@pytest.fixture
def inside_runtime(bubblewrap: None) -> Iterator[Path]:
    """A directory inside a path the sandbox keeps visible (as var/ sits in the repo)."""
    path = Path(tempfile.mkdtemp(dir=REPO, prefix=".sandbox-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_secrets_inside_visible_trees_are_hidden(root: Path, inside_runtime: Path) -> None:
    # Given a data dir inside the code's tree and a .env file beside the code
    data = inside_runtime / "var"
    data.mkdir()
    (data / "platform-keys.json").write_text("secret")
    (inside_runtime / ".env").write_text("DATACOIN_PLATFORM_KEYS=secret")
    (inside_runtime / "dc_visible.py").write_text("VISIBLE = 1")
    sandbox = BubblewrapSandbox(uid=UID, hide=(data,), keep=(inside_runtime,))
    code = f"""
import os, sys
sys.path.insert(0, {str(inside_runtime)!r})
import dc_visible
print(dc_visible.VISIBLE, os.listdir({str(data)!r}), open({str(inside_runtime / ".env")!r}).read())
"""
    # Then the code is there, the data dir is empty and the .env file is empty
    result = run_python(sandbox, root, code)
    assert result.ok, result
    assert result.stderr_tail.strip() == "1 []"


def test_code_kept_under_the_hosts_tmp_stays_visible_but_secrets_inside_it_do_not(
    root: Path,
) -> None:
    # Given a "checkout" under the host's /tmp (as a CI clone is) holding a module, with a
    # data dir inside it, like a default DATACOIN_DATA_DIR=var
    checkout = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))
    try:
        (checkout / "kept_module.py").write_text("VALUE = 42\n")
        (checkout / "var").mkdir()
        (checkout / "var" / "platform-keys.json").write_text("secret")
        os.chmod(checkout, 0o755)
        sandbox = BubblewrapSandbox(uid=UID, hide=(root, checkout / "var"), keep=(checkout,))
        code = (
            f"import sys, os; sys.path.insert(0, {str(checkout)!r}); import kept_module;"
            f" print(kept_module.VALUE, os.listdir({str(checkout / 'var')!r}))"
        )
        # When a sandboxed program imports from it
        result = run_python(sandbox, root, code)
        # Then the code is there, read-only, and the data dir inside it is empty
        assert result.ok, result
        assert result.stderr_tail.strip() == "42 []"
    finally:
        shutil.rmtree(checkout)


def test_a_spare_stopped_on_purpose_is_not_reported_as_failed(
    sandbox: BubblewrapSandbox, root: Path
) -> None:
    # Given a spare sandbox started ahead and waiting for a job that never comes
    program = ProgramSpec([sys.executable, "-c", "import time; time.sleep(60)"], {}, SMALL, False)
    starter = SandboxStarter(sandbox, root / "work", program, spares=1)
    before = descendants(os.getpid())
    starter.refill()
    spare = descendants(os.getpid()) - before
    assert spare
    # When the worker stops (its spares are closed: SIGKILL, as `make demo` does at its end)
    with capture_logs() as logs:
        starter.close()
    # Then nothing says a sandbox failed (the kill was asked for), and the spare is gone
    assert [e for e in logs if e["event"] == "sandbox.failed"] == []
    # (a killed bwrap takes a few milliseconds more to be reaped: wait for it, boundedly)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in spare):
        assert time.monotonic() < deadline, [pid for pid in spare if alive(pid)]
        time.sleep(0.02)


def test_a_sandbox_killed_by_its_owner_says_so(sandbox: BubblewrapSandbox, root: Path) -> None:
    workdir = make_workdir(root, "killed", UID)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = sandbox.start(SandboxJob(sleeper, workdir, SMALL))
    proc.kill()
    result = proc.wait()
    assert not result.ok and result.detail == "stopped by its owner"


# -- TensorFlow jobs: the same walls around a process that has TensorFlow loaded ----------------

TF_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
#: TensorFlow maps ~1 GiB of address space to load: the tests' limits leave it room.
TF_LIMITS = Limits(
    cpu_seconds=60,
    memory_bytes=1536 << 20,
    max_processes=64,
    output_bytes=4 << 20,
    max_output_files=200,
    wall_seconds=60.0,
)
TF_PRELUDE = "import keras, tensorflow as tf; assert float(tf.reduce_sum(tf.ones((4,)))) == 4.0\n"


def run_tensorflow(
    sandbox: BubblewrapSandbox, root: Path, code: str, name: str, limits: Limits = TF_LIMITS
) -> SandboxResult:
    workdir = make_workdir(root, name, UID)
    argv = [sys.executable, "-c", TF_PRELUDE + code]
    return run(sandbox, SandboxJob(argv, workdir, limits, TF_ENV))


def test_a_tensorflow_program_reaches_neither_the_network_nor_the_host(
    sandbox: BubblewrapSandbox, root: Path, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    other = make_workdir(root, "other-job", UID)
    (other / "in" / "private.csv").write_text("someone else's data")
    code = f"""
import socket
reached = []
for target in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:
    try:
        socket.create_connection(target, timeout=2)
        reached.append(target)
    except OSError:
        pass
for path in [{str(root / "platform-keys.json")!r}, {str(other / "in" / "private.csv")!r}]:
    try:
        open(path).read()
        reached.append(path)
    except OSError:
        pass
for path in [{str(root / "escaped")!r}, "/etc/escaped"]:
    try:
        open(path, 'w').write('x')
        reached.append(path)
    except OSError:
        pass
# TensorFlow's own file API makes missing parents: under /tmp it writes into the sandbox's
# private tmpfs, gone with it; the host's path stays untouched
tf.io.write_file({str(root / "tf-escaped")!r}, "x")
try:
    tf.io.write_file("/etc/tf-escaped", "x")
    reached.append("/etc via tf.io")
except Exception:
    pass
print("reached", reached)
"""
    result = run_tensorflow(sandbox, root, code, "tf-escape")
    assert result.ok, result
    assert "reached []" in result.stderr_tail, result.stderr_tail
    assert seen == [] and not (root / "escaped").exists() and not (root / "tf-escaped").exists()
    assert not Path("/etc/escaped").exists() and not Path("/etc/tf-escaped").exists()


def test_tensorflow_past_its_memory_limit_fails(sandbox: BubblewrapSandbox, root: Path) -> None:
    code = "x = tf.zeros((1 << 29,), tf.float32); print(float(tf.reduce_sum(x)))"  # 2 GiB
    result = run_tensorflow(sandbox, root, code, "tf-memory")
    assert result.failure == "memory", result
    # and an address space too small for TensorFlow itself is reported the same way
    small = Limits(memory_bytes=512 << 20, wall_seconds=60.0)
    result = run_tensorflow(sandbox, root, "", "tf-small", small)
    assert result.failure == "memory", result


def test_tensorflow_past_its_cpu_time_is_stopped(sandbox: BubblewrapSandbox, root: Path) -> None:
    limits = Limits(cpu_seconds=4, memory_bytes=TF_LIMITS.memory_bytes, wall_seconds=60.0)
    code = "x = tf.ones((256, 256))\nwhile True: x = tf.linalg.matmul(x, x) / 256.0"
    result = run_tensorflow(sandbox, root, code, "tf-spin", limits)
    assert result.failure == "cpu_time", result
