"""A log whose string PostgreSQL cannot store (a NUL) or that is not UTF-8 is still a fact of
the chain: anyone can emit one for free (`Profiles.setProfile`, a vote's reason), and one
such log used to stop the indexer (`UntranslatableCharacter`). It is stored with U+FFFD in
place of what cannot be kept, audited against the chain, and folded by the projector."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from eth_abi.abi import encode
from web3 import Web3

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store import live_events
from indexer.store_pg import PostgresEventStore
from indexer.verify import verify_against_chain, verify_hash_chain
from projections.projector import Projector
from tests.conftest import Platform
from tests.indexer.test_indexer_anvil import url_of

SENT = [b"bafy\x00evil", b"caf\xc3\xa9 \xff\xfe", b"bafyplain"]
STORED = ["bafy\ufffdevil", "caf\u00e9 \ufffd\ufffd", "bafyplain"]


@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


@pytest.mark.parametrize("fetch_processes", [0, 2], ids=["threads", "fetch-processes"])
def test_profiles_with_a_nul_or_invalid_utf8_are_indexed_audited_and_projected(
    chain: Platform, store: PostgresEventStore, fresh_db: str, fetch_processes: int
) -> None:
    # Given three accounts that set profiles on chain: a NUL, bytes that are not UTF-8, plain
    profiles = chain.client.contract("Profiles")
    selector = Web3.keccak(text="setProfile(string)")[:4]
    w3 = chain.client.w3
    for index, cid in enumerate(SENT, start=3):
        # (a string's ABI encoding is a bytes': web3 would refuse to encode invalid UTF-8)
        data = selector + encode(["bytes"], [cid])
        tx = w3.eth.send_transaction(
            {"from": chain.account(index).address, "to": profiles.address, "data": data}
        )
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    head = w3.eth.block_number
    # When the indexer backfills to the head
    rpc = RpcClient(url_of(chain))
    config = IndexerConfig(
        confirmations=0,
        initial_range=5,
        fetch_processes=fetch_processes,
        fetch_processes_min_blocks=0,
    )
    Indexer(rpc, store, chain.deployment, config=config).run(to_block=head)
    # Then every profile event is stored, its string with U+FFFD where it could not be kept
    chain_id = chain.deployment.chain_id
    updates = [
        e.event.args["cid"]
        for e in live_events(store, chain_id)
        if e.event.event_name == "ProfileUpdated"
    ]
    assert updates[-3:] == STORED
    # And the store passes its audits against the chain, with no dead letter
    assert verify_hash_chain(store).ok
    audit = verify_against_chain(store, rpc, chain.deployment)
    assert audit.ok and audit.dead_letters == 0, audit.problems
    # And the projector folds them (the unusable CIDs are the resolver's failures to record)
    projector = Projector(fresh_db, store, schema="rm")
    projector.prepare()
    assert projector.run_once() > 0
    projector.close()
    with psycopg.connect(fresh_db) as conn:
        cids = [r[0] for r in conn.execute("SELECT profile_cid FROM rm.profiles").fetchall()]
    assert set(STORED) <= set(cids)
