"""Fixtures of the bridge's contract tests: two real anvils (chain ids 31337 and 31338)
with the bridged platform deployed once per session, rolled back after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.anvil import AnvilNode, start_anvil
from tests.conftest import service_missing
from tests.contracts.bridge_helpers import (
    HOME_CHAIN_ID,
    REMOTE_CHAIN_ID,
    BridgedChains,
    deploy_bridged_chains,
    rolled_back,
)


def two_anvils() -> tuple[AnvilNode, AnvilNode]:
    """A home and a remote anvil with their distinct chain ids (stopped by the caller)."""
    try:
        home = start_anvil(chain_id=HOME_CHAIN_ID)
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    try:
        remote = start_anvil(chain_id=REMOTE_CHAIN_ID)
    except Exception as exc:
        home.stop()
        service_missing("anvil", exc)
        raise
    return home, remote


@pytest.fixture(scope="session")
def bridged_chains() -> Iterator[BridgedChains]:
    """The platform on two anvils with the bridge between them (no governance: the
    deployer owns the bridge contracts and rotates relayers directly)."""
    home, remote = two_anvils()
    try:
        yield deploy_bridged_chains(home, remote)
    finally:
        home.stop()
        remote.stop()


@pytest.fixture
def bridged(bridged_chains: BridgedChains) -> Iterator[BridgedChains]:
    """The bridged chains, both reverted to a snapshot after the test."""
    with rolled_back(bridged_chains) as chains:
        yield chains
