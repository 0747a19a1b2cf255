"""An API outage while a page is open: the page says so in a banner (not a blank page or a
stuck spinner), and recovers when the API is back and the user retries.

The outage is real: the stack's uvicorn server is stopped (its port refuses connections),
then a new one is started on the same port. This module has its own stack (the `dapp`
fixture is per module), so no other test sees the outage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from playwright.sync_api import expect

from api.app import create_app
from tests.web.conftest import ContextFactory
from tests.web.dapp import BUYER, DAPP_MISSING, Dapp, card, dapp_built, small_csv

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code < 500
    except httpx.TransportError:
        return False


def _stop_api(dapp: Dapp) -> None:
    server = dapp.stack.server
    assert server is not None
    server.should_exit = True
    dapp.wait_for(lambda: not _answers(dapp.url), "the API stopped", timeout=20)


@pytest.fixture
def restart_api(dapp: Dapp) -> Iterator[Callable[[], None]]:
    """A function that starts a new API server on the stack's port (as a restarted service
    would); every server it starts is stopped after the test."""
    servers: list[uvicorn.Server] = []
    threads: list[threading.Thread] = []

    def start() -> None:
        settings = dapp.settings
        config = uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
        )
        servers.append(uvicorn.Server(config))
        threads.append(threading.Thread(target=servers[-1].run, name="api-again", daemon=True))
        threads[-1].start()

    yield start
    for server in servers:
        server.should_exit = True
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive(), "the restarted API did not stop"


def test_an_api_outage_shows_a_banner_and_the_page_recovers(
    dapp: Dapp, new_context: ContextFactory, restart_api: Callable[[], None]
) -> None:
    listed = dapp.publish("Outage-proof otters", small_csv(6, seed=13))
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, listed.dataset_id)).to_be_visible()
    expect(page.get_by_test_id("api-error")).to_have_count(0)
    # When the API goes away while the page is open, and the user searches
    _stop_api(dapp)
    page.get_by_test_id("search").fill("otters")
    # Then the page says the API does not answer (within its retries)
    banner = page.get_by_test_id("api-error")
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text("does not answer")
    # And when the API is back and the user retries, the banner goes and results show
    restart_api()
    deadline = time.monotonic() + 30
    while not _answers(dapp.url):
        assert time.monotonic() < deadline, "the API did not come back"
        time.sleep(0.1)
    banner.get_by_role("button", name="Retry").click()
    expect(banner).to_have_count(0, timeout=20_000)
    expect(card(page, listed.dataset_id)).to_be_visible()
