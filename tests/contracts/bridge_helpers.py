"""Two anvils with the bridge between them, and the steps of a transfer: lock or burn on
one side, the relayers' signatures, delivery or release on the other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from common.anvil import AnvilNode
from common.bridge import (
    DEV_THRESHOLD,
    BridgeDomain,
    BridgeMessage,
    dev_relayers,
    domain_of,
    ordered_signatures,
    sign,
)
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import DeployConfig, deploy_bridged_pair
from tests.conftest import Platform
from tests.contracts.helpers import single_event

HOME_CHAIN_ID, REMOTE_CHAIN_ID = 31337, 31338


@dataclass
class BridgedChains:
    """The platform on a home and a remote anvil, bridged; relayers: dev accounts 7-9."""

    home: Platform
    remote: Platform
    relayers: tuple[LocalAccount, ...]

    @property
    def vault(self) -> Contract:
        return self.home.client.contract("BridgeVault")

    @property
    def gateway(self) -> Contract:
        return self.remote.client.contract("BridgeGateway")

    @property
    def home_coin(self) -> Contract:
        return self.home.client.contract("DataCoin")

    @property
    def remote_coin(self) -> Contract:
        """The remote chain's "DataCoin": a BridgedDataCoin."""
        return self.remote.client.contract("DataCoin")

    @property
    def to_remote(self) -> BridgeDomain:
        """The domain messages to the remote chain are signed for (the gateway's)."""
        return domain_of(self.remote.deployment)

    @property
    def to_home(self) -> BridgeDomain:
        """The domain messages to the home chain are signed for (the vault's)."""
        return domain_of(self.home.deployment)


def deploy_bridged_chains(
    home: AnvilNode,
    remote: AnvilNode,
    home_config: DeployConfig | None = None,
    remote_config: DeployConfig | None = None,
) -> BridgedChains:
    """Deploy the bridged platform on two fresh anvils (deployer: dev account 0)."""
    relayers = dev_relayers()
    home_tx = Transactor(connect(home.url), dev_account(0))
    remote_tx = Transactor(connect(remote.url), dev_account(0))
    home_config, remote_config = home_config or DeployConfig(), remote_config or DeployConfig()
    pair = deploy_bridged_pair(
        home_tx,
        remote_tx,
        relayers=tuple(r.address for r in relayers),
        threshold=DEV_THRESHOLD,
        home_config=home_config,
        remote_config=remote_config,
    )
    return BridgedChains(
        home=Platform(ChainClient(home_tx.w3, pair.home), home_tx, home_config),
        remote=Platform(ChainClient(remote_tx.w3, pair.remote), remote_tx, remote_config),
        relayers=relayers,
    )


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    return w3.provider.make_request(method, params)["result"]  # type: ignore[arg-type]


@contextmanager
def rolled_back(chains: BridgedChains) -> Iterator[BridgedChains]:
    """Snapshot both chains; revert both afterwards."""
    w3s = (chains.home.client.w3, chains.remote.client.w3)
    snapshots = [rpc(w3, "evm_snapshot", []) for w3 in w3s]
    try:
        yield chains
    finally:
        for w3, snapshot in zip(w3s, snapshots, strict=True):
            rpc(w3, "evm_revert", [snapshot])


def message_of(event: dict[str, Any], *, source_chain_id: int) -> BridgeMessage:
    """The message of a BridgeLocked / BridgeBurned event as web3 decoded it."""
    return BridgeMessage(
        message_id=bytes(event["messageId"]),
        source_chain_id=source_chain_id,
        dest_chain_id=event["destChainId"],
        from_=event["from"],
        to=event["to"],
        amount=event["amount"],
        nonce=event["nonce"],
    )


def lock(chains: BridgedChains, sender: Transactor, to: str, amount: int) -> BridgeMessage:
    """`sender` (holding DATACOIN on home) approves the vault and locks `amount` for `to`."""
    vault = chains.vault
    sender.send(chains.home_coin.functions.approve(vault.address, amount))
    receipt = sender.send(vault.functions.lock(to, amount, REMOTE_CHAIN_ID))
    return message_of(single_event(vault, "BridgeLocked", receipt), source_chain_id=HOME_CHAIN_ID)


def burn(chains: BridgedChains, sender: Transactor, to: str, amount: int) -> BridgeMessage:
    """`sender` (holding bridged DATACOIN on remote) burns `amount` for `to` on home."""
    gateway = chains.gateway
    receipt = sender.send(gateway.functions.burn(to, amount, HOME_CHAIN_ID))
    event = single_event(gateway, "BridgeBurned", receipt)
    return message_of(event, source_chain_id=REMOTE_CHAIN_ID)


def signed(
    message: BridgeMessage, domain: BridgeDomain, signers: Sequence[LocalAccount]
) -> list[bytes]:
    """`signers` sign `message` for `domain`, in the order the contracts take."""
    return ordered_signatures(sign(message, s, domain) for s in signers)


def deliver(
    chains: BridgedChains,
    message: BridgeMessage,
    signatures: list[bytes] | None = None,
    submitter: Transactor | None = None,
) -> TxReceipt:
    """Submit `message` to the gateway (default: signed by relayers 7 and 8, sent by dev
    account 6: anyone may submit)."""
    sigs = signatures or signed(message, chains.to_remote, chains.relayers[:2])
    sender = submitter or chains.remote.account(6)
    return sender.send(chains.gateway.functions.deliver(message.as_struct(), sigs))


def release(
    chains: BridgedChains,
    message: BridgeMessage,
    signatures: list[bytes] | None = None,
    submitter: Transactor | None = None,
) -> TxReceipt:
    """Submit `message` to the vault (default: signed by relayers 8 and 9, sent by dev
    account 6)."""
    sigs = signatures or signed(message, chains.to_home, chains.relayers[1:])
    sender = submitter or chains.home.account(6)
    return sender.send(chains.vault.functions.release(message.as_struct(), sigs))
