"""One retry policy for the indexer's calls to the node: jittered exponential backoff.

The policy only computes *how long* to wait before attempt n; who waits is the caller's
choice. The backfill scheduler (``indexer.sync.backfill``) never sleeps: it parks a failed
range until its delay is over and keeps other ranges in flight meanwhile, so a retry
decorator that sleeps in the caller (tenacity, stamina) does not fit it. Callers that have
nothing else to do wait in place, on their stop event (``RetryPolicy.call`` for one call,
``RetryPolicy.backoff`` for loops that count their own attempts: the runner's phases,
live mode, restarts after a lost store).

Why "equal jitter" (half the delay fixed, half random): ranges that fail together (a node
restart, a 429 burst) spread their retries instead of coming back in one wave, and each
wait still has a known lower bound (tests rely on it, rate limits need it).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from common.errors import RetryableError

log = structlog.get_logger(__name__)
R = TypeVar("R")


@dataclass
class RetryPolicy:
    """Attempt n (1 = the first retry) waits between d/2 and d, d = min(cap, base * 2**(n-1)).

    `cap` is small on purpose: a node that comes back is used again within `cap` seconds
    (live mode promises to be back at the head within 5 s of the node recovering)."""

    base: float = 0.05
    cap: float = 2.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (>= 1)."""
        full: float = min(self.cap, self.base * 2.0 ** min(max(attempt, 1) - 1, 30))
        return full / 2 + self.rng.uniform(0, full / 2)

    def call(
        self,
        action: Callable[[], R],
        *,
        what: str,
        retry_on: tuple[type[BaseException], ...] = (RetryableError,),
        stop: threading.Event | None = None,
        attempts: int | None = None,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> R:
        """Run `action` until it succeeds, waiting `delay(n)` after its n-th failure of a
        kind in `retry_on` (``on_retry`` sees each such failure first); anything else
        propagates, and so does the failure of the last of `attempts` tries (None: no
        limit). A set `stop` ends the wait early and re-raises the last failure."""
        attempt = 0
        while True:
            try:
                return action()
            except retry_on as exc:
                attempt += 1
                if on_retry is not None:
                    on_retry(exc)
                if attempts is not None and attempt >= attempts:
                    raise
                if self.backoff(attempt, event=f"indexer.{what}.retry", error=exc, stop=stop):
                    raise

    def backoff(
        self,
        attempt: int,
        *,
        event: str,
        error: BaseException | str,
        stop: threading.Event | None = None,
        **context: object,
    ) -> bool:
        """Log `event` (a warning: the attempt, the wait, the error and `context`), then
        wait ``delay(attempt)``; on `stop` when given, so a SIGTERM never waits for a
        backoff. True when `stop` is set (the wait was cut short: give up)."""
        wait_s = self.delay(attempt)
        log.warning(
            event, attempt=attempt, retry_in=round(wait_s, 3), error=str(error)[:200], **context
        )
        if stop is None:
            time.sleep(wait_s)
            return False
        return stop.wait(wait_s)
