"""The project's Caddyfile, run by Debian's caddy (`tls internal`, high free ports) in front
of a real `datacoin serve`: HTTPS with Caddy's local CA and HSTS, HTTP redirected, /metrics
kept inside, and the API seeing the client's own address and scheme, through the proxy
only. The test's clients connect from their own loopback addresses (127.0.0.3 through the
proxy, 127.0.0.2 directly) so that "who connected" is visible in what the API logs."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.anvil import free_port
from common.chain import dev_account
from tests.api.test_siwe import signed, siwe_text
from tests.conftest import clone_database, drop_database
from tests.ops.servers import (
    CADDYFILE,
    Running,
    answers,
    caddy_binary,
    datacoin,
    running,
    wait_for,
)

VIA_PROXY, DIRECT = "127.0.0.3", "127.0.0.2"
FORGED = "203.0.113.9"


@dataclass
class Proxied:
    """`datacoin serve` behind Caddy."""

    api: Running
    api_url: str
    origin: str
    http_url: str
    root_ca: Path

    def tls(self) -> ssl.SSLContext:
        """A context that trusts Caddy's local root CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.root_ca))

    def client(self, source: str, base_url: str) -> httpx.Client:
        """A client connecting from the loopback address `source`."""
        transport = httpx.HTTPTransport(local_address=source, verify=self.tls())
        return httpx.Client(base_url=base_url, transport=transport, timeout=10)

    def session_event(self, address: str) -> dict[str, Any]:
        """The API's log line for the session opened for `address`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [e for e in self.api.events("auth.session.opened") if e["address"] == address]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no auth.session.opened for {address}")


@pytest.fixture(scope="module")
def proxied(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxied]:
    caddy = caddy_binary()
    tmp = tmp_path_factory.mktemp("caddy")
    database = clone_database(migrated_template)
    api_port, http_port, https_port = free_port(), free_port(), free_port()
    origin = f"https://localhost:{https_port}"
    api_env = {
        "DATACOIN_DATABASE_URL": database,
        "DATACOIN_REDIS_URL": redis_url,
        "DATACOIN_DATA_DIR": str(tmp / "data"),
        "DATACOIN_LOG_FORMAT": "json",
        "DATACOIN_API_HOST": "127.0.0.1",
        "DATACOIN_API_PORT": str(api_port),
        "DATACOIN_PUBLIC_URL": origin,
        # Caddy connects to the API from 127.0.0.1: the only proxy believed
        "DATACOIN_FORWARDED_ALLOW_IPS": json.dumps(["127.0.0.1"]),
    }
    caddy_env = {
        "HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "caddy-data"),
        "XDG_CONFIG_HOME": str(tmp / "caddy-config"),
        "SITE_ADDRESS": f"localhost:{https_port}",
        "TLS": "internal",
        "HTTP_PORT": str(http_port),
        "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        "UPSTREAM": f"127.0.0.1:{api_port}",
    }
    root_ca = tmp / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    try:
        with running(datacoin("serve"), api_env, tmp / "api.log") as api:
            api_url = f"http://127.0.0.1:{api_port}"
            wait_for("the API", lambda: answers(api_url + "/health"), api)
            args = [caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
            with running(args, caddy_env, tmp / "caddy.log") as proxy:

                def serving() -> bool:
                    if not root_ca.exists():
                        return False
                    context = ssl.create_default_context(cafile=str(root_ca))
                    return answers(origin + "/health", verify=context)

                wait_for("Caddy's HTTPS", serving, proxy)
                yield Proxied(api, api_url, origin, f"http://localhost:{http_port}", root_ca)
    finally:
        drop_database(database)


def test_https_with_the_local_ca_and_hsts(proxied: Proxied) -> None:
    # When the API is asked over HTTPS, trusting Caddy's local root CA
    with proxied.client(VIA_PROXY, proxied.origin) as http:
        reply = http.get("/health")
    # Then it answers, and tells browsers to keep to HTTPS
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "ok"
    assert reply.headers["strict-transport-security"].startswith("max-age=31536000")
    # And a client trusting only the usual public CAs refuses the certificate
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(proxied.origin + "/health", timeout=5)


def test_http_redirects_to_https(proxied: Proxied) -> None:
    # When a page is asked for over plain HTTP
    reply = httpx.get(proxied.http_url + "/datasets?limit=2", timeout=5)
    # Then the answer is a permanent redirect to the same page over HTTPS
    assert reply.status_code == 308
    assert reply.headers["location"] == proxied.origin + "/datasets?limit=2"


def test_metrics_stay_inside(proxied: Proxied) -> None:
    # The API's metrics answer on its own port (Prometheus, inside) ...
    inside = httpx.get(proxied.api_url + "/metrics", timeout=5)
    assert inside.status_code == 200 and "datacoin_api_request_seconds" in inside.text
    # ... but not through the public proxy
    with proxied.client(VIA_PROXY, proxied.origin) as http:
        assert http.get("/metrics").status_code == 404


def test_sign_in_over_the_proxy_names_the_public_origin_and_the_client(
    proxied: Proxied,
) -> None:
    account = dev_account(5)
    with proxied.client(VIA_PROXY, proxied.origin) as http:
        # Given a nonce asked for through the proxy: the message must name the public origin
        nonce = http.get("/auth/nonce").json()
        assert nonce["domain"] == proxied.origin.removeprefix("https://")
        assert nonce["uri"] == proxied.origin
        text = siwe_text(account.address, nonce["nonce"], domain=nonce["domain"], uri=nonce["uri"])
        # When the signed message is sent through the proxy, with a forged X-Forwarded-For
        session = http.post(
            "/auth/verify", json=signed(text, 5), headers={"X-Forwarded-For": FORGED}
        )
        # Then a session opens and works through the proxy
        assert session.status_code == 200, session.text
        token = session.json()["token"]
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"address": account.address}
    # And the API saw the client's own address and scheme (Caddy dropped the forged header)
    opened = proxied.session_event(account.address)
    assert (opened["client"], opened["scheme"]) == (VIA_PROXY, "https")


def test_forwarded_headers_from_anyone_but_the_proxy_are_not_believed(proxied: Proxied) -> None:
    account = dev_account(6)
    forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}
    # Given a client that reaches the API's port directly and claims to be someone else
    with proxied.client(DIRECT, proxied.api_url) as http:
        nonce = http.get("/auth/nonce").json()
        text = siwe_text(account.address, nonce["nonce"], domain=nonce["domain"], uri=nonce["uri"])
        # When it signs in
        session = http.post("/auth/verify", json=signed(text, 6), headers=forged)
        assert session.status_code == 200, session.text
    # Then the API records where it really came from, over plain HTTP
    opened = proxied.session_event(account.address)
    assert (opened["client"], opened["scheme"]) == (DIRECT, "http")
