"""The in-process stack (`datacoin up` / `datacoin demo`) fails fast when a part cannot start."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import structlog

from cli.commands.demo import worker_loop
from cli.commands.stack import Stack
from common.settings import ChainEndpoint, Settings
from tests.conftest import Platform


def test_an_api_that_cannot_bind_fails_the_start_at_once(
    chain: Platform, fresh_db: str, redis_url: str, tmp_path: Path
) -> None:
    # Given the API's port already taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(
            database_url=fresh_db,
            redis_url=redis_url,
            data_dir=tmp_path,
            rpc_url=str(chain.client.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
            api_port=port,
            index_workers=0,
        )
        stack = Stack(settings, chain.deployment)
        # When the stack starts, then it says so at once (not after its 60 s deadline)
        started = time.monotonic()
        try:
            with pytest.raises(
                RuntimeError, match=f"the API stopped while starting \\(port {port}\\)"
            ):
                stack.start()
        finally:
            stack.stop()
    assert time.monotonic() - started < 30


def test_a_chain_whose_worker_fails_stops_the_worker_component_with_a_logged_event(
    chain: Platform, fresh_db: str, redis_url: str, tmp_path: Path
) -> None:
    """`datacoin up` runs one Dramatiq worker per chain in its worker component. Given a
    second chain whose manifest is missing (its worker fails at start), when the component
    runs, then the failure is a structured `worker.chain.crashed` event and the home
    chain's worker stops too, so the component ends (and `up` shuts down) instead of
    serving one chain while the other's jobs wait."""
    settings = Settings(
        database_url=fresh_db,
        redis_url=redis_url,
        data_dir=tmp_path,
        rpc_url=str(chain.client.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        manifest_path=tmp_path / "home.json",
        remote_chains=[
            ChainEndpoint(rpc_url="http://127.0.0.1:9", manifest_path=tmp_path / "absent.json")
        ],
        broker_namespace=f"test-{uuid.uuid4().hex[:8]}",
    )
    chain.deployment.save(tmp_path / "home.json")
    stop = threading.Event()
    with structlog.testing.capture_logs() as events:
        component = threading.Thread(target=worker_loop(settings), args=(stop,), daemon=True)
        component.start()
        component.join(timeout=30)
        ended = not component.is_alive()
        stop.set()
        component.join(timeout=30)
    assert ended, "the worker component kept running with one chain's worker dead"
    crashed = [e for e in events if e["event"] == "worker.chain.crashed"]
    assert [e["rpc_url"] for e in crashed] == ["http://127.0.0.1:9"]
    assert crashed[0]["log_level"] == "error"
    assert any(e["event"] == "worker.started" for e in events), "the home worker had started"
