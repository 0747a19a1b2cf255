"""Deploying the bridged pair: what each manifest holds, who owns the bridge under
governance (and rotates relayers by a vote), and that the remote "DataCoin" entry is read
through its BridgedDataCoin artifact everywhere (bindings, stale ABIs, the indexer's
decoder)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from common.bridge import message_from_event, message_id
from common.errors import ConfigurationError
from common.governance import Call, Proposal, pass_proposal
from common.manifest import DeployedContract, Deployment
from contracts.artifacts import PLATFORM_CONTRACTS
from contracts.events import BridgeLocked, typed_event
from indexer.decode import EventDecoder
from tests.conftest import GOVERNED
from tests.contracts.bridge_helpers import (
    HOME_CHAIN_ID,
    REMOTE_CHAIN_ID,
    BridgedChains,
    deliver,
    deploy_bridged_chains,
    lock,
)
from tests.contracts.conftest import two_anvils
from tests.contracts.helpers import WAD, fund, reverts
from tests.contracts.test_governance import stakers


@pytest.fixture(scope="module")
def governed_pair() -> Iterator[BridgedChains]:
    """Both chains deployed under governance (dev timings), bridged."""
    home, remote = two_anvils()
    try:
        yield deploy_bridged_chains(home, remote, GOVERNED, GOVERNED)
    finally:
        home.stop()
        remote.stop()


def test_manifests_name_the_bridge_and_the_remote_token_artifact(
    bridged_chains: BridgedChains, tmp_path: Path
) -> None:
    home, remote = bridged_chains.home.deployment, bridged_chains.remote.deployment
    assert set(home.contracts) == {*PLATFORM_CONTRACTS, "BridgeVault"} - {
        "Timelock",
        "DatacoinGovernor",
    }
    assert set(remote.contracts) == {*PLATFORM_CONTRACTS, "BridgeGateway"} - {
        "Faucet",
        "Timelock",
        "DatacoinGovernor",
    }
    assert home.bridge is not None and remote.bridge is not None
    assert (home.bridge.role, home.bridge.peer_chain_id) == ("home", REMOTE_CHAIN_ID)
    assert (remote.bridge.role, remote.bridge.peer_chain_id) == ("remote", HOME_CHAIN_ID)
    assert remote.contracts["DataCoin"].artifact == "BridgedDataCoin"
    assert remote.artifact("DataCoin") == "BridgedDataCoin"
    assert home.artifact("DataCoin") == "DataCoin"
    assert {d.artifact for n, d in remote.contracts.items() if n != "DataCoin"} == {None}
    assert home.stale_abis() == [] and remote.stale_abis() == []
    # The manifest file keeps both.
    remote.save(tmp_path / "remote.json")
    assert Deployment.load(tmp_path / "remote.json") == remote


def test_both_sides_are_linked_and_the_remote_platform_uses_the_bridged_token(
    bridged_chains: BridgedChains,
) -> None:
    c = bridged_chains
    vault, gateway, coin = c.vault, c.gateway, c.remote_coin
    assert vault.functions.peer().call() == gateway.address
    assert gateway.functions.peer().call() == vault.address
    assert vault.functions.token().call() == c.home_coin.address
    assert gateway.functions.token().call() == coin.address
    assert coin.functions.gateway().call() == gateway.address  # bound with its own ABI
    for name in ("Marketplace", "Staking", "TrainingLog"):
        assert c.remote.client.contract(name).functions.token().call() == coin.address
    relayers = [r.address for r in c.relayers]
    for side in (vault, gateway):
        assert side.functions.relayers().call() == relayers
        assert side.functions.threshold().call() == 2
        assert side.functions.owner().call() == c.home.deployer.address


def test_the_indexer_decodes_remote_logs_with_the_entry_artifact(bridged: BridgedChains) -> None:
    """Given a delivery on the remote chain, when its logs are decoded as the indexer does
    (``addresses_by_artifact``), then the token's GatewaySet and the gateway's
    BridgeMinted decode (DataCoin's ABI has no GatewaySet)."""
    alice = bridged.home.account(1)
    fund(bridged.home, alice.address, WAD)
    deliver(bridged, lock(bridged, alice, alice.address, WAD))
    deployment = bridged.remote.deployment
    decoder = EventDecoder(deployment.addresses_by_artifact())
    w3 = bridged.remote.client.w3
    names = [decoder.decode(raw_log(log))[0] for log in w3.eth.get_logs({"fromBlock": 0})]
    assert "GatewaySet" in names and "BridgeMinted" in names and "Transfer" in names


def test_a_stored_lock_event_gives_the_message_the_relayers_sign(bridged: BridgedChains) -> None:
    """Given a lock decoded as the event store keeps it, when the relayer's helper turns
    the typed event into a message, then it is the lock's message, its id checks out
    against the vault, and it is deliverable."""
    alice = bridged.home.account(1)
    fund(bridged.home, alice.address, 3 * WAD)
    expected = lock(bridged, alice, bridged.remote.account(2).address, 3 * WAD)
    decoder = EventDecoder(bridged.home.deployment.addresses_by_artifact())
    vault = bridged.vault
    (raw,) = bridged.home.client.w3.eth.get_logs({"address": vault.address, "fromBlock": "latest"})
    name, args = decoder.decode(raw_log(raw))
    event = typed_event(name, args)
    assert isinstance(event, BridgeLocked)
    message = message_from_event(event, source_chain_id=HOME_CHAIN_ID)
    assert message == expected
    assert message.message_id == message_id(
        source_chain_id=HOME_CHAIN_ID,
        dest_chain_id=message.dest_chain_id,
        sender=vault.address,
        nonce=message.nonce,
    )
    deliver(bridged, message)


def raw_log(log: Any) -> dict[str, Any]:
    """A web3 log in the JSON-RPC form the indexer decodes."""
    return {
        "address": log["address"],
        "topics": ["0x" + bytes(t).hex() for t in log["topics"]],
        "data": "0x" + bytes(log["data"]).hex(),
    }


def test_two_entries_of_one_artifact_cannot_be_decoded_by_artifact() -> None:
    entry = DeployedContract(address="0x" + "11" * 20, abi_digest="", tx_hash="", block_number=1)
    twin = entry.model_copy(update={"address": "0x" + "22" * 20, "artifact": "DataCoin"})
    deployment = Deployment(
        chain_id=1,
        start_block=1,
        deployer="0x" + "33" * 20,
        deployed_at=datetime(2026, 1, 1, tzinfo=UTC),
        compiler="",
        contracts={"DataCoin": entry, "OtherCoin": twin},
    )
    with pytest.raises(ConfigurationError, match="DataCoin"):
        deployment.addresses_by_artifact()


def test_governed_bridge_is_owned_by_each_timelock(governed_pair: BridgedChains) -> None:
    c = governed_pair
    assert c.vault.functions.owner().call() == c.home.deployment.address("Timelock")
    assert c.gateway.functions.owner().call() == c.remote.deployment.address("Timelock")
    # The remote token has no admin to hand over; its gateway is set.
    assert c.remote_coin.functions.gateway().call() == c.gateway.address
    me = c.home.deployer
    with reverts("OwnableUnauthorizedAccount", me.address):
        me.send(c.vault.functions.setRelayers([me.address], 1))
    with reverts("NotPeerAdmin", me.address):  # linked: the deployer's one link is spent
        me.send(c.vault.functions.setPeer(me.address))


def test_relayers_rotate_through_a_vote(governed_pair: BridgedChains) -> None:
    """Given a governed home chain, when stakers pass setRelayers([7, 8], 2) on the vault,
    then the vault's relayer set is that, at epoch 2."""
    home = governed_pair.home
    w3 = home.client.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        s = stakers(home)
        vault = governed_pair.vault
        new_set = [Web3.to_checksum_address(r.address) for r in governed_pair.relayers[:2]]
        proposal = Proposal(
            calls=(Call.to(vault, "setRelayers", new_set, 2),),
            description="Rotate the bridge's relayers to two of two",
        )
        pass_proposal(home.client, s.big, [s.big, s.mid], proposal)
        assert vault.functions.relayers().call() == new_set
        assert vault.functions.threshold().call() == 2
        assert vault.functions.relayerEpoch().call() == 2
    finally:
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
