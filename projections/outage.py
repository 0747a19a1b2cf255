"""Backoff for a long-running loop that loses a dependency (PostgreSQL going away, a
document that cannot be fetched yet): exponential delays with jitter, capped, and one
log event per outage rather than one per failed try."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)
_RNG = random.Random()


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """The wait before try `attempt` + 1 after `attempt` failed tries (1, 2, ...):
    ``base * 2 ** (attempt - 1)``, capped at `cap`, then drawn uniformly from its upper
    half ("equal jitter": many failing loops or CIDs do not retry in lockstep, and none
    retries sooner than half its step)."""
    step = min(cap, math.ldexp(base, min(max(attempt, 1) - 1, 62)))  # base * 2**(n-1)
    return step / 2 + (rng or _RNG).uniform(0, step / 2)


@dataclass
class Outage:
    """A run of failures of one loop (`name`): the first is logged as a warning
    (``<name>.failing``), later ones at debug, the recovery once (``<name>.recovered``);
    each failure returns how long to wait before the next try."""

    name: str
    base: float = 0.5
    cap: float = 30.0
    failures: int = field(default=0, init=False)

    def failed(self, exc: BaseException) -> float:
        """Record a failed try; the seconds to wait before the next one."""
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"[:300]
        delay = backoff_delay(self.failures, self.base, self.cap)
        if self.failures == 1:
            log.warning(f"{self.name}.failing", error=error, retry_in_s=round(delay, 2))
        else:
            log.debug(
                f"{self.name}.still_failing",
                error=error,
                attempt=self.failures,
                retry_in_s=round(delay, 2),
            )
        return delay

    def succeeded(self) -> None:
        """A try worked: end the outage (logged if there was one)."""
        if self.failures:
            log.info(f"{self.name}.recovered", failed_tries=self.failures)
            self.failures = 0
