"""Range-size errors from providers (known and never seen), the adaptive sizer and the
backfill scheduler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest

from indexer.decode import EventDecoder
from indexer.events import BlockRecord
from indexer.rpc import Header, RangeTooLargeError, RpcError, classify_logs_error
from indexer.sync import Batch, RangeFetcher, RangeSizer, _block_boundary, backfill


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        ("query returned more than 10000 results. Try with this block range [0x10, 0x2f].", 32),
        ("block range is too large, max is 1000", 1000),
        ("eth_getLogs is limited to a 10,000 block range", 10000),
        ("exceed maximum block range: 5000", 5000),
        ("Log response size exceeded. You can make requests with up to a 2K block range", 2000),
        ("query timeout exceeded", None),
        ("too many logs", None),
    ],
)
def test_provider_range_errors_become_range_too_large(message: str, hint: int | None) -> None:
    err = classify_logs_error(message, -32005)
    assert isinstance(err, RangeTooLargeError)
    if hint is not None:
        assert err.suggested_size == hint


def test_unrecognised_errors_stay_generic_rpc_errors() -> None:
    err = classify_logs_error("zx-9 kernel hiccup", -32000)
    assert type(err) is RpcError


def test_sizer_shrinks_on_any_failure_and_grows_back() -> None:
    sizer = RangeSizer(size=1000, max_size=8000, target_logs=100)
    # An error we have never seen still halves the range (Ponder retries it at full size)
    assert sizer.failure(1000, None) == 500
    assert sizer.size == 500
    # A hint from the node wins
    assert sizer.failure(500, 32) == 32
    assert sizer.size == 32
    # Sparse ranges grow back; dense ones shrink toward the target
    for _ in range(10):
        sizer.success(sizer.size, 1)
    assert sizer.size == 8000
    sizer.success(8000, 8000)
    assert sizer.size == 100
    # A single block that fails is retried whole, never split below one block
    assert sizer.failure(1, None) == 1


# -- the backfill scheduler: failures, dense ranges cut short, order ------------------------
def _logs_of(blocks: dict[int, int]) -> list[dict[str, Any]]:
    return [
        {"blockNumber": hex(n), "blockHash": f"0x{n:064x}", "logIndex": hex(i)}
        for n, count in sorted(blocks.items())
        for i in range(count)
    ]


def test_a_cut_keeps_whole_blocks() -> None:
    logs = _logs_of({1: 3, 2: 4, 3: 2})
    assert _block_boundary(logs, 5) == 3  # block 1 only: block 2 would pass the limit
    assert _block_boundary(logs, 7) == 7  # blocks 1 and 2 exactly
    assert _block_boundary(_logs_of({1: 9, 2: 1}), 4) == 9  # one block is never split


def test_backfill_covers_every_block_once_in_order_through_failures_and_cuts() -> None:
    # Given a chain with a dense stretch, a fetch that fails now and then, and batches
    # cut short after 25 logs (as RangeFetcher does)
    density = {n: (40 if 300 <= n < 320 else n % 3) for n in range(1, 501)}
    attempts: dict[tuple[int, int], int] = {}

    def fetch(start: int, end: int) -> Batch:
        attempts[start, end] = attempts.get((start, end), 0) + 1
        if attempts[start, end] == 1 and start % 7 == 0:
            raise RangeTooLargeError("too many results", -32005, None)
        logs = _logs_of({n: density[n] for n in range(start, end + 1) if density[n]})
        last = end
        if len(logs) > 25:
            logs = logs[: _block_boundary(logs, 25)]
            last = int(logs[-1]["blockNumber"], 16)
        record = BlockRecord(last, bytes(32), bytes(32), 0)
        events = [object()] * sum(density[n] for n in range(start, last + 1))
        total = sum(density[n] for n in range(start, end + 1))
        return Batch(start, last, record, events, [record], [], total)  # type: ignore[arg-type]

    # When it is backfilled several ranges at a time, on threads
    sizer = RangeSizer(size=50, max_size=400, target_logs=10)
    with ThreadPoolExecutor(3) as pool:
        groups = list(backfill(lambda s, e: pool.submit(fetch, s, e), 1, 500, sizer,
                               concurrency=3, max_backoff=0.01))  # fmt: skip
    # Then the batches cover blocks 1..500 exactly once, in order, each within its limit
    batches = [b for group in groups for b in group]
    assert batches[0].from_block == 1 and batches[-1].to_block == 500
    for before, after in pairwise(batches):
        assert after.from_block == before.to_block + 1
    assert sum(len(b.events) for b in batches) == sum(density.values())
    assert max(len(b.events) for b in batches) <= 40  # cut at 25, or one 40-log block
    assert any(b.range_logs > len(b.events) for b in batches)  # some were cut short


class FakeRpc:
    """getLogs and headers of a made-up chain whose blocks hold `density` Transfer logs."""

    def __init__(self, density: dict[int, int], token: str, topic: str) -> None:
        self.density, self.token, self.topic = density, token, topic

    def get_logs(self, start: int, end: int, *_: object) -> list[dict[str, Any]]:
        word = "00" * 12 + "11" * 20
        return [
            {**log, "address": self.token, "topics": [self.topic, "0x" + word, "0x" + word],
             "data": "0x" + "00" * 31 + "07", "transactionHash": f"0x{n:064x}",
             "transactionIndex": "0x0"}
            for n in range(start, end + 1)
            for log in _logs_of({n: self.density.get(n, 0)})
        ]  # fmt: skip

    def headers(self, numbers: list[int]) -> list[Header]:
        return [Header(n, bytes.fromhex(f"{n:064x}"), bytes(32), n, b"") for n in numbers]


def test_a_range_far_denser_than_expected_is_cut_short_at_a_block_boundary() -> None:
    token = "0x" + "ab" * 20
    decoder = EventDecoder({"DataCoin": token})
    transfer = next(t for t in decoder.topics if decoder.spec_for(token, t).name == "Transfer")
    rpc = FakeRpc({2: 3, 3: 4, 4: 5, 9: 1}, token, transfer)
    fetcher = RangeFetcher(rpc, decoder, 1, max_logs=8)  # type: ignore[arg-type]
    batch = fetcher.fetch_encoded(1, 10)
    # Blocks 2 and 3 (7 logs) fit, block 4 would not: the batch ends at block 3
    assert (batch.from_block, batch.to_block, batch.end.number) == (1, 3, 3)
    assert len(batch.events) == 7 and batch.range_logs == 13
    assert [b.number for b in batch.blocks] == [2, 3]
    # The NewEvent path cuts the same way; without a limit nothing is cut
    assert fetcher.fetch(1, 10).to_block == 3
    whole = RangeFetcher(rpc, decoder, 1).fetch_encoded(1, 10)  # type: ignore[arg-type]
    assert (whole.to_block, len(whole.events), whole.range_logs) == (10, 13, 13)
