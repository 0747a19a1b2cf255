"""A dead or hung Redis: sign-in, sessions and downloads answer 503 with a reason, quickly."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import REDIS_TIMEOUT_S, create_app
from common.anvil import free_port
from tests.api.conftest import World


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) but never answers."""
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture(params=["closed port", "silent port"])
def redis_down(request: pytest.FixtureRequest, world: World) -> Iterator[TestClient]:
    """The API with its Redis URL on a port nothing listens on, or one that never answers."""
    port = free_port() if request.param == "closed port" else request.getfixturevalue("silent_port")
    settings = world.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_dead_redis_is_a_quick_503_with_a_reason(redis_down: TestClient) -> None:
    bearer = {"Authorization": "Bearer some-token"}
    requests: dict[str, Callable[[], httpx.Response]] = {
        "nonce": lambda: redis_down.get("/auth/nonce"),
        "me": lambda: redis_down.get("/auth/me", headers=bearer),
        "download": lambda: redis_down.get("/datasets/1/download", headers=bearer),
    }
    for name, request in requests.items():
        started = time.monotonic()
        response = request()
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert "redis" in response.json()["detail"].lower(), (name, response.json())
        assert response.json()["code"] == "redis.unavailable", name
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.headers.get("retry-after"), name
        # Redis's own timeout, plus room for a loaded machine (two test processes on two
        # cores): quick means bounded by that timeout, not by the client's patience.
        assert elapsed < REDIS_TIMEOUT_S + 1.5, (name, elapsed)
        print(f"redis down: {name} answered 503 in {elapsed * 1000:.0f} ms")
    # Routes that do not need Redis still answer
    assert redis_down.get("/datasets").status_code == 200
