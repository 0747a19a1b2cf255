"""`datacoin relay`: a bridge relayer, until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

import structlog

from common.metrics import serve_metrics
from common.settings import Settings
from workers.bridge.build import build_relayer
from workers.bridge.metrics import BridgeBacklog

log = structlog.get_logger(__name__)


def run_relay(settings: Settings) -> None:
    """Carry final bridge sends between the configured chains (``DATACOIN_RPC_URL`` and
    ``DATACOIN_REMOTE_CHAINS``) with ``DATACOIN_BRIDGE_RELAYER_KEYS``. Several relayers,
    each with its own keys and the same database, pool their signatures; any of them
    submits once a message has its threshold."""
    relayer = build_relayer(settings)
    relayer.metrics.registry.register(BridgeBacklog(settings.database_url, settings.read_schema))
    server = serve_metrics(settings, relayer.metrics.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "bridge.relayer.started",
        chains=sorted(relayer.chains),
        signers=[account.address for account in relayer.signers],
    )
    try:
        relayer.run_forever(stop, settings.bridge_relayer_interval)
    finally:
        if server is not None:
            server.stop()
    log.info("bridge.relayer.stopped")
