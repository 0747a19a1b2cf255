"""Session-wide real services: anvil on a free loopback port, the deployed platform, and a
fresh PostgreSQL database. In CI a missing service fails; elsewhere it skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from web3 import Web3

from common.anvil import AnvilNode, start_anvil
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import DEV_TIMING, DeployConfig, deploy_platform
from common.manifest import Deployment

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: The uid training sandboxes run as in this test process: one per pytest-xdist worker
#: (gw0, gw1, ...), so a test that looks for leftover sandbox processes by uid never sees
#: another worker's jobs. Set in the environment: every Settings() and subprocess gets it.
SANDBOX_UID = 61_000 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
os.environ["DATACOIN_SANDBOX_UID"] = str(SANDBOX_UID)
ADMIN_DB_URL = os.environ.get(
    "DATACOIN_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def service_missing(what: str, exc: BaseException) -> None:
    """Fail in CI, skip elsewhere: CI must never go green without the real service."""
    message = f"{what} unavailable: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """A real anvil node for the whole session."""
    try:
        node = start_anvil()
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilNode) -> Web3:
    """web3 connected to the session's anvil."""
    return connect(anvil.url)


@dataclass
class Platform:
    """The deployed contracts and the dev accounts used in tests."""

    client: ChainClient
    deployer: Transactor
    config: DeployConfig

    @property
    def deployment(self) -> Deployment:
        return self.client.deployment

    def account(self, index: int) -> Transactor:
        """Transactor for dev account `index` (anvil funds 0-9 with ETH)."""
        return Transactor(self.client.w3, dev_account(index))


#: Governance on, with the dev chain's timings: what `datacoin deploy` and the demo set up
#: on anvil (the Timelock owns the admin functions).
GOVERNED = DeployConfig(governance=True, governance_timing=DEV_TIMING)


@pytest.fixture(scope="session")
def platform(w3: Web3) -> Platform:
    """Every platform contract deployed once per session (tests revert to a snapshot).

    Without governance (DeployConfig's default): the deployer stays the owner, so tests of
    the marketplace, training and workers call admin functions directly instead of passing
    a proposal for each; the governed deployment has its own fixtures (`governed`) and
    tests (tests/contracts/test_governance.py), which also show that the owner's calls
    then fail."""
    config = DeployConfig()
    deployer = Transactor(w3, dev_account(0))
    deployment = deploy_platform(deployer, config)
    return Platform(client=ChainClient(w3, deployment), deployer=deployer, config=config)


def deploy_fresh(node: AnvilNode, config: DeployConfig | None = None) -> Platform:
    """Deploy the platform on `node` (a fresh chain); without governance by default."""
    w3 = connect(node.url)
    config = config or DeployConfig()
    deployer = Transactor(w3, dev_account(0))
    deployment = deploy_platform(deployer, config)
    return Platform(client=ChainClient(w3, deployment), deployer=deployer, config=config)


@pytest.fixture
def fresh_chain() -> Iterator[Platform]:
    """A new anvil with the platform deployed, for one test.

    Tests that use ``anvil_reorg`` need it: after many snapshots and reverts on the
    session's anvil, re-executing on an old fork point can find that state evicted.
    """
    try:
        node = start_anvil()
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    yield deploy_fresh(node)
    node.stop()


@pytest.fixture(scope="module")
def governed_platform() -> Iterator[Platform]:
    """A fresh anvil with the platform deployed under governance (`GOVERNED`), for one
    module (its own chain: the session's deployment stays owner-run)."""
    try:
        node = start_anvil()
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    yield deploy_fresh(node, GOVERNED)
    node.stop()


@pytest.fixture
def governed(governed_platform: Platform) -> Iterator[Platform]:
    """The governed platform, rolled back to a snapshot after the test."""
    w3 = governed_platform.client.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield governed_platform
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture
def chain(platform: Platform) -> Iterator[Platform]:
    """The deployed platform, rolled back to a snapshot after the test."""
    w3 = platform.client.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield platform
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for the session, dropped afterwards."""
    name = f"datacoin_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        service_missing("PostgreSQL", exc)
        raise
    base = ADMIN_DB_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_template(database_url: str) -> Iterator[str]:
    """A database migrated to head, used as a template for cheap per-test databases."""
    from migrations.runner import upgrade

    url = database_url + "_tmpl"
    upgrade(url)  # creates it
    yield url
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def clone_database(template_url: str) -> str:
    """A new database copied from a migrated template (CREATE DATABASE ... TEMPLATE)."""
    template = template_url.rsplit("/", 1)[1]
    name = f"{template}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{ADMIN_DB_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    """Drop a test database, closing its connections."""
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
def fresh_db(migrated_template: str) -> Iterator[str]:
    """A new, migrated, empty database for one test."""
    url = clone_database(migrated_template)
    yield url
    drop_database(url)


def terminate_backends(url: str) -> int:
    """Kill every other session on the database at `url` (as a PostgreSQL restart would);
    how many there were."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


REDIS_URL = os.environ.get("DATACOIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis, checked reachable (each test namespaces its own keys)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        service_missing("Redis", exc)
    return REDIS_URL


def to_checksum(address: str) -> str:
    """EIP-55 form of an address."""
    return Web3.to_checksum_address(address)
