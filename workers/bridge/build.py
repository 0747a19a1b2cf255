"""A relayer built from settings: a client for every bridged chain and its keys."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from common.bridge import dev_relayers
from common.chain import DEV_CHAIN_IDS, ChainClient, connect
from common.chains import DeployedChain, Deployments
from common.errors import ConfigurationError
from common.settings import Settings
from workers.bridge.relayer import Relayer


def relayer_keys(settings: Settings, chain_ids: list[int]) -> list[LocalAccount]:
    """``bridge_relayer_keys``; on dev chains only, anvil's dev relayers (7, 8, 9)."""
    if settings.bridge_relayer_keys:
        return [Account.from_key(k.get_secret_value()) for k in settings.bridge_relayer_keys]
    if chain_ids and all(chain_id in DEV_CHAIN_IDS for chain_id in chain_ids):
        return list(dev_relayers())
    raise ConfigurationError("set DATACOIN_BRIDGE_RELAYER_KEYS: a relayer signs with its keys")


def bridged_chains(settings: Settings) -> list[DeployedChain]:
    """The chains of `settings` whose manifest has a side of the bridge."""
    return [c for c in Deployments(settings).chains() if c.deployment.bridge is not None]


def build_relayer(settings: Settings) -> Relayer:
    """The relayer for every chain of `settings` whose manifest has a bridge."""
    chains = {
        chain.chain_id: ChainClient(connect(chain.endpoint.rpc_url), chain.deployment)
        for chain in bridged_chains(settings)
    }
    if len(chains) < 2:
        raise ConfigurationError(
            "the relayer needs two bridged chains: set DATACOIN_REMOTE_CHAINS and deploy"
            " both sides (`datacoin deploy --bridge ...`)"
        )
    signers = relayer_keys(settings, sorted(chains))
    return Relayer(
        database_url=settings.database_url,
        chains=chains,
        signers=signers,
        submitter=signers[0],
        confirmations=settings.confirmations,
        schema=settings.read_schema,
    )
