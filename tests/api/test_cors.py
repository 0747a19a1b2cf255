"""CORS by setting: a real preflight against the ASGI app. The allowed origin gets the
headers, another origin none, and the default configuration answers no origin at all."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.app import create_app
from common.settings import Settings

DAPP = "https://dapp.example"


def preflight(settings: Settings, origin: str) -> httpx.Response:
    """A browser's preflight of a signed-in GET from `origin` (the app is not started: the
    middleware answers before any route, so no database is needed)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            return await http.options(
                "/datasets",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )

    return asyncio.run(send())


def test_the_configured_origin_may_call_and_no_other() -> None:
    settings = Settings(cors_origins=[DAPP])
    allowed = preflight(settings, DAPP)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == DAPP
    assert "GET" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    other = preflight(settings, "https://evil.example")
    assert "access-control-allow-origin" not in other.headers


def test_no_origin_is_allowed_by_default() -> None:
    assert Settings().cors_origins == []
    reply = preflight(Settings(), DAPP)
    assert not any(name.startswith("access-control-") for name in reply.headers)


def test_the_origin_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATACOIN_CORS_ORIGINS", f'["{DAPP}"]')
    assert Settings().cors_origins == [DAPP]
