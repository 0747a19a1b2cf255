"""A small synthetic event history with reorgs, appended straight into the event store:
listings, purchases, ratings, stakes, training requests, token transfers and profiles
(set and cleared)."""

from __future__ import annotations

import random

from indexer.events import BlockRecord, Checkpoint, NewEvent
from indexer.store_pg import PostgresEventStore

CHAIN = 31337


def block_hash(n: int, fork: int = 0) -> bytes:
    """Block `n`'s hash on `fork` (0: the original chain)."""
    return (n + 10_000 * fork).to_bytes(32, "big")


def history(rng: random.Random, blocks: range, fork: int = 0) -> list[NewEvent]:
    """Listings, purchases, ratings, stakes and training requests, a few per block."""
    accounts = ["0x" + rng.randbytes(20).hex() for _ in range(12)]
    events: list[NewEvent] = []
    for block in blocks:
        for log_index in range(rng.randint(1, 6)):
            dataset, someone = str(rng.randint(1, 15)), rng.choice(accounts)
            name, args = rng.choice(
                [
                    (
                        "DatasetListed",
                        {
                            "datasetId": dataset,
                            "provider": someone,
                            "price": "7",
                            "accessDuration": "0",
                            "metadataCid": "bafy",
                            "contentHash": "0x" + "ab" * 32,
                            "category": "tabular",
                        },
                    ),
                    (
                        "Purchased",
                        {
                            "datasetId": dataset,
                            "buyer": someone,
                            "provider": accounts[0],
                            "price": str(10**18),
                            "fee": "25",
                            "expiresAt": "0",
                        },
                    ),
                    ("Rated", {"datasetId": dataset, "rater": someone, "score": "4"}),
                    ("Staked", {"account": someone, "amount": "5", "newStake": "9"}),
                    (
                        "TrainingRequested",
                        {
                            "jobId": str(block * 10 + log_index),
                            "datasetId": dataset,
                            "requester": someone,
                            "specCid": "bafyspec",
                            "payment": "3",
                            "deadline": "1800000000",
                        },
                    ),
                    ("Transfer", {"from": someone, "to": accounts[1], "value": "1"}),
                    ("ProfileUpdated", {"account": someone, "cid": f"bafyprofile{block % 3}"}),
                    ("ProfileUpdated", {"account": someone, "cid": ""}),  # cleared
                ]
            )
            parent = block_hash(block - 1, fork if block > 40 else 0)
            events.append(
                NewEvent(
                    chain_id=CHAIN,
                    block_number=block,
                    block_hash=block_hash(block, fork),
                    parent_hash=parent,
                    block_timestamp=1_700_000_000 + block,
                    tx_hash=rng.randbytes(32),
                    tx_index=0,
                    log_index=log_index,
                    address=b"\x11" * 20,
                    event_name=name,
                    args=args,
                )
            )
    return events


def append(
    store: PostgresEventStore,
    events: list[NewEvent],
    last: int,
    fork: int,
    expected: tuple[int, bytes] | None,
    finalized: int = 0,
) -> None:
    """Append `events` as blocks up to `last` of `fork`, expecting the store at `expected`;
    the chain's finalized block is then `finalized`."""
    record = BlockRecord(last, block_hash(last, fork), block_hash(last - 1, fork), 0)
    store.append(
        events,
        Checkpoint(
            chain_id=CHAIN,
            block_number=last,
            block_hash=block_hash(last, fork),
            finalized_number=finalized,
            blocks=(record,),
        ),
        expected,
    )
