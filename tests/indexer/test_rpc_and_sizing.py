"""Range-size errors from providers (known and never seen), the adaptive sizer and the
backfill scheduler; RPC faults through a real anvil behind tests/indexer/faultproxy.py:
what is retried as it was, what shrinks a range, how many requests are in flight."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import orjson
import pytest

from indexer.decode import EventDecoder
from indexer.events import BlockRecord
from indexer.fetch_pool import FetchPool
from indexer.rpc import (
    Header,
    RangeTooLargeError,
    RpcClient,
    RpcError,
    TransientRpcError,
    classify_logs_error,
)
from indexer.runner import Indexer, IndexerConfig, Progress
from indexer.store_pg import PostgresEventStore
from indexer.sync import Batch, RangeFetcher, RangeSizer, _block_boundary, backfill
from tests.conftest import Platform
from tests.indexer.activity import (
    canonical_events,
    fund,
    list_datasets,
    mine,
    stored_events,
)
from tests.indexer.faultproxy import TRANSIENT, FaultProxy
from tests.indexer.test_indexer_anvil import Following, url_of, wait_for


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


def test_sizer_shrinks_on_a_size_failure_and_grows_back() -> None:
    sizer = RangeSizer(size=1000, max_size=8000, target_logs=100)
    # A size error without a hint halves the range
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
        groups = list(
            backfill(
                lambda s, e: pool.submit(fetch, s, e),
                1,
                500,
                sizer,
                concurrency=3,
                max_backoff=0.01,
            )
        )
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
            {
                **log,
                "address": self.token,
                "topics": [self.topic, "0x" + word, "0x" + word],
                "data": "0x" + "00" * 31 + "07",
                "transactionHash": f"0x{n:064x}",
                "transactionIndex": "0x0",
            }
            for n in range(start, end + 1)
            for log in _logs_of({n: self.density.get(n, 0)})
        ]

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


def _flaky_backfill(
    failing_start: int, first_s: float = 0.01
) -> tuple[list[tuple[float, int]], list[float], list[Any]]:
    """Backfill 1..500 in ranges of 5, 4 at a time, 10 ms a range (the first: `first_s`),
    with the range starting at `failing_start` failing twice transiently: (submissions,
    failure times, groups)."""
    submitted: list[tuple[float, int]] = []
    failures: list[float] = []
    lock = threading.Lock()

    def fetch(start: int, end: int) -> Batch:
        time.sleep(first_s if start == 1 else 0.01)
        with lock:
            if start == failing_start and len(failures) < 2:
                failures.append(time.monotonic())
                raise TransientRpcError("HTTP 503: node busy", 503)
        record = BlockRecord(end, bytes(32), bytes(32), 0)
        return Batch(start, end, record, [], [record], [], 0)

    def submit(start: int, end: int) -> Any:
        with lock:
            submitted.append((time.monotonic(), start))
        return pool.submit(fetch, start, end)

    sizer = RangeSizer(size=5, max_size=5, target_logs=10)
    with ThreadPoolExecutor(4) as pool:
        groups = list(backfill(submit, 1, 500, sizer, concurrency=4, max_backoff=0.5))
    return submitted, failures, groups


def test_backoff_leaves_the_other_ranges_in_flight() -> None:
    # Given a range behind the head (a slow first range) that fails twice transiently
    submitted, failures, groups = _flaky_backfill(failing_start=6, first_s=0.5)
    # Then while it waited for each retry, other ranges were started
    retries = [t for t, start in submitted if start == 6][1:]
    assert len(retries) == 2
    for failed, retried in zip(failures, retries, strict=True):
        assert retried > failed
        assert any(failed <= t < retried and start != 6 for t, start in submitted)
    # And it was retried as it was: never split
    assert all(b.to_block - b.from_block + 1 == 5 for g in groups for b in g)


def test_the_head_of_line_range_is_retried_at_once() -> None:
    # Given the first range (every other one waits behind it to be committed) failing twice
    submitted, failures, groups = _flaky_backfill(failing_start=1)
    # Then each retry was sent at once, not after a backoff (>= 25 ms for the first one)
    retries = [t for t, start in submitted if start == 1][1:]
    assert len(retries) == 2
    for failed, retried in zip(failures, retries, strict=True):
        assert retried - failed < 0.02
    assert all(b.to_block - b.from_block + 1 == 5 for g in groups for b in g)


# -- through a real anvil behind the fault proxy ----------------------------------------------
@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


def _history(chain: Platform, blocks: int = 120) -> int:
    """Listings spread over about `blocks` blocks; returns the head."""
    fund(chain, [1, 2])
    for i in range(6):
        list_datasets(chain, 1 + i % 2, 5)
        mine(chain.client.w3, blocks // 6)
    return int(chain.client.w3.eth.block_number)


def _backfill(
    chain: Platform,
    store: PostgresEventStore,
    proxy: FaultProxy,
    head: int,
    timeout: float = 1.0,
    **config: Any,
) -> float:
    """Index up to `head` through `proxy`; seconds it took. The store must equal the chain."""
    cfg = IndexerConfig(**{"confirmations": 0, "fetch_processes": 0, **config})
    indexer = Indexer(RpcClient(proxy.url, timeout=timeout), store, chain.deployment, config=cfg)
    started = time.monotonic()
    indexer.run(to_block=head)
    seconds = time.monotonic() - started
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    return seconds


def _every_third_unknown_once_per_range(
    faults: tuple[str, ...],
) -> Callable[[int, Any], str | None]:
    """Every third request fails, the kinds in rotation, but an unknown error never hits the
    same request twice: twice at one size is the signal to shrink (see the next tests), and
    which range the rotation's unknowns land on depends on how the threads interleave."""
    unknown_for: set[bytes] = set()
    lock = threading.Lock()

    def pick(n: int, request: Any) -> str | None:
        if n % 3:
            return None
        fault = faults[(n // 3 - 1) % len(faults)]
        if fault == "unknown":
            items = request if isinstance(request, list) else [request]
            key = orjson.dumps([item.get("params") for item in items])
            with lock:
                if key in unknown_for:
                    return "http500"
                unknown_for.add(key)
        return fault

    return pick


def test_transient_faults_are_retried_without_shrinking_ranges(
    chain: Platform, store: PostgresEventStore
) -> None:
    head = _history(chain)
    # Given a node behind a proxy that fails 30% of requests with 429, 500, resets, hangs
    # past the client's timeout, truncated bodies and (once in a while) an unknown error
    faults = (*TRANSIENT, "unknown")
    with FaultProxy(
        url_of(chain),
        slow_s=0.6,
        max_range=10**9,
        faults=faults,
        fault_for=_every_third_unknown_once_per_range(faults),
    ) as proxy:
        # When the backfill runs with ranges of 10 blocks that the sizer keeps at 10
        _backfill(chain, store, proxy, head, timeout=0.3, initial_range=10, max_range=10)
    # Then every fault happened, and every getLogs range had 10 blocks (bar the last one)
    assert all(proxy.injected[f] > 0 for f in faults), proxy.injected
    sizes = Counter(end - start + 1 for start, end in proxy.ranges if end != head)
    assert set(sizes) == {10}, sizes


def test_a_size_error_shrinks_the_range_to_the_nodes_hint(
    chain: Platform, store: PostgresEventStore
) -> None:
    head = _history(chain)
    with FaultProxy(url_of(chain), rate=0, max_range=8) as proxy:
        _backfill(chain, store, proxy, head, initial_range=20, concurrency=1)
    first, second = proxy.ranges[:2]
    assert first[1] - first[0] + 1 == 20  # refused: "Try with this block range [0x1, 0x8]"
    assert second == (first[0], first[0] + 7)


def test_an_unknown_error_that_repeats_at_one_size_shrinks_the_range(
    chain: Platform, store: PostgresEventStore
) -> None:
    head = _history(chain)
    # Given a node that refuses ranges over 8 blocks with a text no client knows
    with FaultProxy(url_of(chain), rate=0, max_range=10**9, unknown_over=8) as proxy:
        _backfill(chain, store, proxy, head, initial_range=20, concurrency=1)
    # Then the first range was tried again as it was (once may be a glitch), then halved
    # (other ranges went ahead while it waited for its retry)
    start = proxy.ranges[0][0]
    first, again, third = [r for r in proxy.ranges if r[0] == start][:3]
    assert first == again == (start, start + 19)
    assert third == (start, start + 9)
    assert proxy.injected["unknown_size"] > 0


@pytest.fixture
def warm_pool(chain: Platform) -> None:
    """Start this process's fork server, so that a backfill's worker pool is up at once."""
    contracts = {n: c.address for n, c in chain.deployment.contracts.items()}
    with FetchPool(
        RpcClient(url_of(chain)), contracts, chain_id=chain.deployment.chain_id, processes=2
    ) as pool:
        pool.warm_up()


@pytest.mark.usefixtures("warm_pool")
@pytest.mark.parametrize(("workers", "concurrency"), [(2, 4), (2, 3), (0, 4)])
def test_the_configured_number_of_requests_is_in_flight(
    chain: Platform, store: PostgresEventStore, workers: int, concurrency: int
) -> None:
    head = _history(chain)
    # Given a node that takes 50 ms per request
    with FaultProxy(url_of(chain), rate=0, max_range=10**9, delay_s=0.05) as proxy:
        # When the backfill runs in ranges of 2 blocks, with and without worker processes
        config = {
            "fetch_processes": workers,
            "fetch_processes_min_blocks": 0,
            "concurrency": concurrency,
        }
        _backfill(chain, store, proxy, head, initial_range=2, max_range=2, **config)
    # Then `concurrency` requests were in flight at the busiest moment (one more only if the
    # head-of-line range was slow enough to be hedged: a loaded machine)
    assert concurrency <= proxy.max_in_flight <= concurrency + 1


def test_a_hung_request_is_abandoned_at_the_timeout_and_retried(
    chain: Platform, store: PostgresEventStore
) -> None:
    head = _history(chain)
    hung: list[tuple[int, int]] = []

    def hang_one(_: int, request: Any) -> str | None:
        if hung or not isinstance(request, dict) or request["method"] != "eth_getLogs":
            return None
        f = request["params"][0]
        # Not the first range: one that the ranges after it can overtake
        if "fromBlock" in f and int(f["fromBlock"], 16) > chain.deployment.start_block:
            hung.append((int(f["fromBlock"], 16), int(f["toBlock"], 16)))
            return "slow"
        return None

    # Given a node that never answers one getLogs request (it holds it for 5 s)
    with FaultProxy(url_of(chain), max_range=10**9, slow_s=5.0, fault_for=hang_one) as proxy:
        # When the backfill runs with a per-request timeout of 0.5 s
        seconds = _backfill(chain, store, proxy, head, 0.5, initial_range=10, max_range=10)
    # Then it was abandoned after the timeout and the same range asked again
    assert proxy.ranges.count(hung[0]) == 2
    assert seconds < 3.0


def test_a_late_head_of_line_range_is_hedged_before_its_timeout(
    chain: Platform, store: PostgresEventStore
) -> None:
    head = _history(chain)
    hung: list[tuple[int, int]] = []

    def hang_first(_: int, request: Any) -> str | None:
        if hung or not isinstance(request, dict) or request["method"] != "eth_getLogs":
            return None
        f = request["params"][0]
        if "fromBlock" in f and int(f["fromBlock"], 16) <= chain.deployment.start_block:
            hung.append((int(f["fromBlock"], 16), int(f["toBlock"], 16)))
            return "slow"
        return None

    # Given a node that holds the very first getLogs request (the one every later range
    # waits behind to be committed) for 20 s
    with FaultProxy(url_of(chain), max_range=10**9, slow_s=20.0, fault_for=hang_first) as proxy:
        # When the backfill runs with a per-request timeout of 10 s
        reached: list[float] = []
        cfg = IndexerConfig(confirmations=0, fetch_processes=0, initial_range=10, max_range=10)
        rpc = RpcClient(proxy.url, timeout=10.0)

        def progress(p: Progress) -> None:
            if p.cursor >= head and not reached:
                reached.append(time.monotonic())

        indexer = Indexer(rpc, store, chain.deployment, config=cfg, on_progress=progress)
        started = time.monotonic()
        indexer.run(to_block=head)  # (its end waits for the abandoned request's thread)
    # Then a second request for it was sent after 1 s (a quarter of the timeout, at most
    # 1 s) and answered: the store reached the head long before the timeout (without the
    # hedge: >= 10 s)
    assert proxy.ranges.count(hung[0]) == 2
    assert reached and reached[0] - started < 6.0
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )


def test_live_mode_is_back_at_the_head_soon_after_the_node_recovers(
    chain: Platform, store: PostgresEventStore
) -> None:
    fund(chain, [1])
    with FaultProxy(url_of(chain), rate=0, max_range=10**9) as proxy:
        # Given an indexer following the head (default backoff) through the proxy
        cfg = IndexerConfig(confirmations=2, poll_interval=0.02)
        indexer = Indexer(RpcClient(proxy.url), store, chain.deployment, config=cfg)
        with Following(indexer) as run:
            wait_for(lambda: run.caught_up(chain.client.w3.eth.block_number))
            # When the node is away for 6.5 s while the chain moves on
            proxy.down = True
            down_until = time.monotonic() + 6.5
            list_datasets(chain, 1, 3)
            time.sleep(max(0.0, down_until - time.monotonic()))
            head = chain.client.w3.eth.block_number
            proxy.down = False
            recovered = time.monotonic()
            # Then the indexer is back at the head within 5 s
            wait_for(lambda: run.caught_up(head), timeout=20)
            assert time.monotonic() - recovered < 5.0
            assert proxy.injected["down"] > 0
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
