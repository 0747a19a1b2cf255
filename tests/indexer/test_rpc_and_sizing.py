"""Range-size errors from providers (known and never seen) and the adaptive sizer."""

from __future__ import annotations

import pytest

from indexer.rpc import RangeTooLargeError, RpcError, classify_logs_error
from indexer.sync import RangeSizer


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
