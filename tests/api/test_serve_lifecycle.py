"""`datacoin serve` starting and stopping: quietly, and, with a live SSE stream open,
ending it cleanly (its response completed: the client sees the stream end, not break)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.anvil import free_port


def test_sigterm_ends_open_streams_cleanly(fresh_db: str, tmp_path: Path) -> None:
    # Given `datacoin serve` and a client on GET /stream
    port = free_port()
    env = {
        **os.environ,
        "DATACOIN_DATABASE_URL": fresh_db,
        "DATACOIN_DATA_DIR": str(tmp_path),
        "DATACOIN_LOG_FORMAT": "json",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(timeout=30) as http, http.stream("GET", url + "/stream") as stream:
            assert stream.status_code == 200
            # When the server is told to stop
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            # Then the stream ends: every chunk read, the response complete (httpx raises
            # RemoteProtocolError on a chunked body cut off mid-way)
            body = b"".join(stream.iter_raw())
        assert time.monotonic() - started < 10
        assert not body.strip() or body.startswith(b":")  # nothing, or keep-alive pings
    finally:
        if server.poll() is None:
            server.terminate()
        _, stderr = server.communicate(timeout=30)
    # And the server exits as a SIGTERM asks (uvicorn shuts down gracefully, then
    # re-raises the signal), without an error about a cut-off response
    assert server.returncode in (0, -signal.SIGTERM), (server.returncode, stderr[-2000:])
    assert "without completing response" not in stderr


def test_the_api_imports_without_warnings() -> None:
    # (siwe's grammar used to print eight lines of abnf warnings on every API start)
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import api.app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "GrammarWarning" not in out.stderr, out.stderr
