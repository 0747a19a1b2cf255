"""Real platform activity on anvil, and the canonical chain's logs to compare against."""

from __future__ import annotations

import random
from typing import Any

from web3 import Web3

from common.manifest import Deployment
from indexer.decode import EventDecoder, reference_decode
from indexer.rpc import RpcClient
from indexer.store import EventStore, live_events
from tests.conftest import Platform

WAD = 10**18
Key = tuple[int, str, int, str, tuple[tuple[str, Any], ...]]


def rpc_call(w3: Web3, method: str, params: list[Any]) -> Any:
    reply = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in reply, reply
    return reply.get("result")


def mine(w3: Web3, blocks: int) -> None:
    rpc_call(w3, "anvil_mine", [hex(blocks)])


def fund(platform: Platform, indexes: list[int], amount: int = 100_000 * WAD) -> None:
    coin = platform.client.contract("DataCoin")
    for i in indexes:
        platform.deployer.send(coin.functions.transfer(platform.account(i).address, amount))


def request_training(chain: Platform) -> Any:
    """Account 1 lists dataset 1, account 2 buys it and requests a training job (job 1):
    the receipt of the request."""
    market = chain.client.contract("Marketplace")
    training = chain.client.contract("TrainingLog")
    coin = chain.client.contract("DataCoin")
    fund(chain, [1, 2])
    chain.account(1).send(market.functions.listDataset("bafy-x", bytes(32), "tabular", WAD, 0))
    chain.account(2).send(coin.functions.approve(market.address, WAD))
    chain.account(2).send(market.functions.purchase(1, WAD))
    chain.account(2).send(coin.functions.approve(training.address, WAD))
    return chain.account(2).send(training.functions.requestTraining(1, "bafy-spec", WAD))


def list_datasets(platform: Platform, provider: int, count: int, price: int = 10 * WAD) -> None:
    """`count` DatasetListed events from one multicall transaction."""
    market = platform.client.contract("Marketplace")
    calls = [
        market.functions.listDataset(
            f"bafy{provider:02d}{i:08d}", bytes(32), "tabular", price + i, 0
        )._encode_transaction_data()
        for i in range(count)
    ]
    platform.account(provider).send(market.functions.multicall(calls))


def dense_history(platform: Platform) -> None:
    """600 listings in 60 multicall transactions from five funded providers, then 3 empty
    blocks: a backfill long enough for a kill to land in the middle of it."""
    fund(platform, [1, 2, 3, 4, 5])
    for i in range(60):
        list_datasets(platform, 1 + i % 5, 10)
    mine(platform.client.w3, 3)


def random_activity(platform: Platform, rng: random.Random, steps: int) -> None:
    """A mix of listings, purchases, ratings and stakes from accounts 1-5."""
    market = platform.client.contract("Marketplace")
    coin = platform.client.contract("DataCoin")
    staking = platform.client.contract("Staking")
    for _ in range(steps):
        who = rng.randint(1, 5)
        actor = platform.account(who)
        count = market.functions.datasetCount().call()
        action = rng.choice(["list", "buy", "stake", "transfer"]) if count else "list"
        if action == "list":
            actor.send(
                market.functions.listDataset(
                    f"bafy-{rng.getrandbits(64):x}",
                    rng.randbytes(32),
                    "tabular",
                    rng.randint(1, 50) * WAD,
                    rng.choice([0, 3600]),
                )
            )
        elif action == "buy":
            dataset = rng.randint(1, count)
            info = market.functions.getDataset(dataset).call()
            if not info[2] or market.functions.accessExpiry(dataset, actor.address).call() != 0:
                continue
            actor.send(coin.functions.approve(market.address, info[5]))
            actor.send(market.functions.purchase(dataset, info[5]))
            if rng.random() < 0.5:
                actor.send(market.functions.rate(dataset, rng.randint(1, 5)))
        elif action == "stake":
            amount = rng.randint(1, 100) * WAD
            actor.send(coin.functions.approve(staking.address, amount))
            actor.send(staking.functions.stake(amount))
        else:
            other = platform.account(rng.randint(1, 5)).address
            actor.send(coin.functions.transfer(other, rng.randint(1, 10) * WAD))


def decoder_for(deployment: Deployment) -> EventDecoder:
    return EventDecoder(deployment.addresses_by_artifact())


def canonical_events(rpc_url: str, deployment: Deployment, to_block: int) -> list[Key]:
    """The chain's platform logs in one getLogs, decoded with eth-abi (the reference)."""
    decoder = decoder_for(deployment)
    rpc = RpcClient(rpc_url)
    logs = rpc.get_logs(deployment.start_block, to_block, decoder.addresses, decoder.topics)
    out = []
    for raw in logs:
        spec = decoder.spec_for(raw["address"], raw["topics"][0])
        args = reference_decode(spec, raw["topics"], raw["data"])
        out.append(
            (
                int(raw["blockNumber"], 16),
                raw["blockHash"].lower(),
                int(raw["logIndex"], 16),
                spec.name,
                tuple(sorted(args.items())),
            )
        )
    return out


def stored_events(store: EventStore, chain_id: int) -> list[Key]:
    """The store's non-retracted events in the same shape, in position order."""
    return [
        (
            e.event.block_number,
            "0x" + e.event.block_hash.hex(),
            e.event.log_index,
            e.event.event_name,
            tuple(sorted(e.event.args.items())),
        )
        for e in live_events(store, chain_id)
    ]
