"""The indexer against a real anvil and a real PostgreSQL event store."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from web3 import Web3

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from tests.conftest import Platform
from tests.indexer.activity import (
    canonical_events,
    fund,
    list_datasets,
    mine,
    random_activity,
    rpc_call,
    stored_events,
)


@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


def make_indexer(chain: Platform, store: PostgresEventStore, **config: float) -> Indexer:
    defaults: dict[str, float] = {"confirmations": 3, "poll_interval": 0.02, "initial_range": 7}
    defaults.update(config)
    cfg = IndexerConfig(**defaults)  # type: ignore[arg-type]
    rpc = RpcClient(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    return Indexer(rpc, store, chain.deployment, config=cfg)


def url_of(chain: Platform) -> str:
    return str(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


class Following:
    """Runs an indexer in a thread until the test stops it."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.indexer.run(stop=self.stop)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> Following:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        if self.error:
            raise self.error

    def caught_up(self, block: int) -> bool:
        if self.error:
            raise self.error
        return self.indexer.cursor.number >= block


def test_backfill_equals_one_direct_getlogs(chain: Platform, store: PostgresEventStore) -> None:
    # Given varied activity and batches of events in single transactions
    fund(chain, [1, 2, 3, 4, 5])
    random_activity(chain, random.Random(1), 40)
    list_datasets(chain, 2, 120)
    mine(chain.client.w3, 5)
    head = chain.client.w3.eth.block_number
    # When the indexer backfills to the head with tiny, adaptive ranges
    indexer = make_indexer(chain, store, confirmations=0)
    indexer.run(to_block=head)
    # Then the store holds exactly the chain's logs, event for event, in order
    expected = canonical_events(url_of(chain), chain.deployment, head)
    assert len(expected) > 150
    assert stored_events(store, chain.deployment.chain_id) == expected
    saved = store.checkpoint(chain.deployment.chain_id)
    assert saved is not None and saved.block_number == head
    # And the metrics saw the same
    registry = indexer.metrics.registry
    label = {"chain_id": str(chain.deployment.chain_id)}
    assert registry.get_sample_value("datacoin_indexer_events_total", label) == len(expected)
    assert registry.get_sample_value("datacoin_indexer_head_lag_blocks", label) == 0


def test_handover_from_backfill_to_live_misses_nothing(
    chain: Platform, store: PostgresEventStore
) -> None:
    # Given history to backfill
    fund(chain, [1, 2, 3, 4, 5])
    random_activity(chain, random.Random(2), 20)
    w3 = chain.client.w3
    # When events keep being mined while the indexer backfills and switches to live mode
    with Following(make_indexer(chain, store, confirmations=4, initial_range=2)) as run:
        for i in range(25):
            list_datasets(chain, 1 + i % 5, 3)
        mine(w3, 2)
        head = w3.eth.block_number
        wait_for(lambda: run.caught_up(head))
    # Then the store equals the chain: nothing missed, nothing twice
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )


@pytest.mark.parametrize("depth", [1, 5, 30])
def test_live_reorg_retracts_orphans_and_indexes_replacements(
    fresh_chain: Platform, store: PostgresEventStore, depth: int
) -> None:
    chain = fresh_chain
    w3 = chain.client.w3
    fund(chain, [1, 2, 3])
    market = chain.client.contract("Marketplace")
    with Following(make_indexer(chain, store, confirmations=50)) as run:
        # Given live-indexed blocks, many with events
        for i in range(depth + 3):
            list_datasets(chain, 1 + i % 3, 2)
        head = w3.eth.block_number
        wait_for(lambda: run.caught_up(head))
        before = len(stored_events(store, chain.deployment.chain_id))
        # When anvil replaces the last `depth` blocks, with new listings in them
        # (signed here with the nonce the provider had at the fork point, explicit gas)
        provider = chain.account(2).account
        fork_point = head - depth
        tx = market.functions.listDataset("bafy-replacement", bytes(32), "images", 7, 0)
        replacement = provider.sign_transaction(
            {
                "to": market.address,
                "data": tx._encode_transaction_data(),
                "nonce": w3.eth.get_transaction_count(provider.address, fork_point),
                "gas": 500_000,
                "maxFeePerGas": 100 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "chainId": w3.eth.chain_id,
                "type": 2,
            }
        ).raw_transaction
        raw = "0x" + replacement.hex().removeprefix("0x")
        rpc_call(w3, "anvil_reorg", [depth, [[raw, 0]]])
        receipt = w3.eth.get_transaction_receipt(Web3.keccak(hexstr=raw))
        assert receipt["status"] == 1 and receipt["blockNumber"] == fork_point + 1, receipt
        mine(w3, 1)
        new_head = w3.eth.block_number
        wait_for(
            lambda: (
                run.caught_up(new_head)
                and stored_events(store, chain.deployment.chain_id)
                == canonical_events(url_of(chain), chain.deployment, new_head)
            )
        )
    # Then orphaned events were retracted (appended, never deleted) and replacements indexed
    entries = store.read_after(0, 100_000)
    retractions = [e for e in entries if e.kind == "retract"]
    assert retractions, "the orphaned listings must be retracted"
    assert len([e for e in entries if e.kind == "log"]) >= before
    names = [k[4] for k in stored_events(store, chain.deployment.chain_id)]
    block = w3.eth.get_block(fork_point + 1)
    diagnosis = (
        f"fork point {fork_point}, head {w3.eth.block_number}, block {block['number']} "
        f"hash {block['hash'].hex()} txs {block['transactions']!r}, "
        f"receipt now {w3.eth.get_transaction_receipt(Web3.keccak(hexstr=raw))}"
    )
    assert any(("category", "images") in args for args in names), diagnosis
