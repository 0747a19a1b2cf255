"""Start and stop a local anvil node (the npm package's binary) on a loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common.errors import ConfigurationError, RetryableError

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_anvil() -> str:
    """Path of the anvil binary: $DATACOIN_ANVIL_BIN, node_modules, then PATH."""
    candidates = [
        os.environ.get("DATACOIN_ANVIL_BIN"),
        str(REPO_ROOT / "node_modules" / ".bin" / "anvil"),
        shutil.which("anvil"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise ConfigurationError("anvil not found: run `npm ci` (package @foundry-rs/anvil)")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AnvilNode:
    """A running anvil process; stop it with :meth:`stop` (or use as a context manager)."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path | None = field(default=None)

    @property
    def url(self) -> str:
        """HTTP JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate anvil and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_anvil(
    port: int | None = None,
    extra_args: list[str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
    chain_id: int | None = None,
) -> AnvilNode:
    """Start anvil on 127.0.0.1 and wait until it answers JSON-RPC; `chain_id` sets its
    chain id (anvil's default: 31337), e.g. 31338 for a second, bridged dev chain."""
    port = port or free_port()
    args = [find_anvil(), "--host", "127.0.0.1", "--port", str(port)]
    if chain_id is not None:
        args += ["--chain-id", str(chain_id)]
    args += extra_args or []
    out = log_path.open("ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    node = AnvilNode(process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + ready_timeout
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RetryableError(f"anvil exited with code {process.returncode} on port {port}")
        try:
            httpx.post(node.url, json=payload, timeout=1.0).raise_for_status()
            return node
        except httpx.HTTPError:
            time.sleep(0.05)
    node.stop()
    raise RetryableError(f"anvil did not answer on port {port} within {ready_timeout}s")
