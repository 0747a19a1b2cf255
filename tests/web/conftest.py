"""Browser tests: Debian's chromium driven by Playwright for Python, with the test wallet
(tests/web/wallet.js) injected, against a real stack (anvil, indexer, projector, resolver,
uvicorn serving the API and, once built, the dApp from web/out).

Playwright's own browser download is never used (`playwright install` cannot work here):
`make test` installs Debian's `chromium` with apt when it is missing. Without it the tests
skip, except in CI where they fail (tests/conftest.py's `service_missing`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from tests.conftest import service_missing
from tests.procs import alive, descendants
from tests.web.dapp import Dapp, running_dapp
from tests.web.wallet import WalletConfig, install_wallet

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
ARTIFACTS = REPO / "test-artifacts" / "web"
#: Browsers this process launched and has not closed: the failure hook screenshots their pages.
_OPEN_BROWSERS: list[Browser] = []


def chromium_path() -> str | None:
    """Debian's chromium (apt package `chromium`), or $DATACOIN_CHROMIUM."""
    return os.environ.get("DATACOIN_CHROMIUM") or shutil.which("chromium")


def _browser_processes() -> set[int]:
    """This process's descendants that are the browser or Playwright's driver."""
    found = set()
    for pid in descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"chrom" in cmdline or b"playwright" in cmdline:
            found.add(pid)
    return found


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver for the web tests; afterwards no browser or driver is left."""
    if chromium_path() is None:
        missing = FileNotFoundError(
            "`chromium` is not on PATH (`apt-get install chromium`; `make test` does it)"
        )
        service_missing("chromium", missing)
    before = _browser_processes()
    with sync_playwright() as p:
        yield p
    deadline = time.monotonic() + 10
    while (left := {pid for pid in _browser_processes() - before if alive(pid)}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert not left, f"browser processes left behind: {sorted(left)}"


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless chromium for every web test (contexts isolate the tests)."""
    path = chromium_path()
    args = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    try:
        launched = playwright.chromium.launch(executable_path=path, args=args, timeout=60_000)
    except Exception as exc:  # a chromium that cannot start is a missing service
        service_missing(f"chromium ({path})", exc)
        raise
    _OPEN_BROWSERS.append(launched)
    yield launched
    _OPEN_BROWSERS.remove(launched)
    launched.close()


ContextFactory = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[ContextFactory]:
    """`new_context(wallet=WalletConfig(...), **playwright_options)`: a fresh browser context
    (own storage) with the test wallet installed; every one is closed after the test."""
    made: list[BrowserContext] = []

    def make(wallet: WalletConfig | None = None, **options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        if wallet is not None:
            install_wallet(context, wallet)
        made.append(context)
        return context

    yield make
    for context in made:
        with contextlib.suppress(Exception):  # already closed by the test
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, a screenshot of every open page under test-artifacts/web/."""
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed or not _OPEN_BROWSERS:
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-150:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = []
    for b, browser in enumerate(_OPEN_BROWSERS):
        for c, context in enumerate(browser.contexts):
            for p, page in enumerate(context.pages):
                path = ARTIFACTS / f"{name}-{report.when}-{b}{c}{p}.png"
                with contextlib.suppress(Exception):  # a crashed page has nothing to show
                    page.screenshot(path=str(path), full_page=True, timeout=5_000)
                    shots.append(f"{path.relative_to(REPO)} ({page.url})")
    if shots:
        report.sections.append(("screenshots", "\n".join(shots)))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="package")
def fixture_site() -> Iterator[str]:
    """tests/web/fixtures served over HTTP on a free loopback port (a served page, so init
    scripts and CORS behave as on the real dApp)."""
    handler = functools.partial(_QuietHandler, directory=str(FIXTURES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def dapp(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """A fresh chain, database and stack (API + pages) for one test module."""
    with running_dapp(migrated_template, redis_url, tmp_path_factory.mktemp("dapp")) as running:
        yield running
