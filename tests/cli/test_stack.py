"""The in-process stack (`datacoin up` / `datacoin demo`) fails fast when a part cannot start."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from cli.commands.stack import Stack
from common.settings import Settings
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
