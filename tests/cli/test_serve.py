"""`datacoin serve` as a real process: it refuses a missing database or an unreachable
PostgreSQL in one line, and on SIGTERM drains what is in flight and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg import sql

from common.anvil import free_port
from tests.conftest import ADMIN_DB_URL

SERVER_BASE = ADMIN_DB_URL.rsplit("/", 1)[0]


def datacoin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, "DATACOIN_LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def database_exists(name: str) -> bool:
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        return conn.execute(query, (name,)).fetchone() is not None


def test_serve_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    # Given a URL naming a database nobody created
    name = f"datacoin_test_missing_{uuid.uuid4().hex[:8]}"
    env = {"DATACOIN_DATABASE_URL": f"{SERVER_BASE}/{name}", "DATACOIN_DATA_DIR": str(tmp_path)}
    # When the API is started on it
    result = datacoin("serve", "--port", str(free_port()), env=env)
    # Then it stops at once with one line naming the database and what to do, and creates
    # nothing (only `datacoin db upgrade` creates databases)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f'database "{name}" does not exist' in result.stderr
    assert "datacoin db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    assert not database_exists(name)


def test_serve_with_postgresql_unreachable_says_where(tmp_path: Path) -> None:
    # Given a URL whose server does not listen
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/datacoin"
    # When the API is started on it
    env = {"DATACOIN_DATABASE_URL": url, "DATACOIN_DATA_DIR": str(tmp_path)}
    result = datacoin("serve", "--port", str(free_port()), env=env)
    # Then one line says what failed and where (no 49-line traceback)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in line
    assert "Connection refused" in line


@pytest.fixture
def odd_database_name() -> Iterator[str]:
    """A database name holding a double quote, a space and a semicolon; dropped after."""
    name = f'datacoin_test_{uuid.uuid4().hex[:6]} "odd"; name'
    yield name
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_db_upgrade_creates_a_database_with_an_odd_name(
    odd_database_name: str, tmp_path: Path
) -> None:
    # Given a database name with a quote in it (percent-encoded in the URL)
    url = f"{SERVER_BASE}/{quote(odd_database_name, safe='')}"
    env = {"DATACOIN_DATABASE_URL": url, "DATACOIN_DATA_DIR": str(tmp_path)}
    # When `datacoin db upgrade` runs, then the database exists under exactly that name
    result = datacoin("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert database_exists(odd_database_name)


def wait_healthy(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not start"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


def test_sigterm_drains_the_request_in_flight_and_exits_0(fresh_db: str, tmp_path: Path) -> None:
    # Given `datacoin serve` with a request in flight (a client reading GET /stream)
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
        wait_healthy(url, server)
        with httpx.Client(timeout=30) as http, http.stream("GET", url + "/stream") as stream:
            assert stream.status_code == 200
            # When a service manager asks it to stop
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            # Then the response in flight completes (httpx raises RemoteProtocolError on a
            # chunked body cut off mid-way), within seconds
            body = b"".join(stream.iter_raw())
        assert time.monotonic() - started < 10
        assert not body.strip() or body.startswith(b":")  # nothing, or keep-alive pings
        # And the server exits 0: a requested, clean stop (it died by SIGTERM, -15, before)
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, (server.returncode, stderr[-2000:])
    assert "Traceback" not in stderr
    assert "without completing response" not in stderr  # uvicorn's word for a cut stream
    assert '"api.stopped"' in stderr and '"SIGTERM"' in stderr
