"""The error taxonomy: every failure is retryable (try again later) or permanent.

Driver errors (psycopg, web3, httpx, requests, redis) are translated in :func:`classify`,
the one place that knows which of them are transient. The drivers are imported when
`classify` first runs, not with this module: almost everything imports these classes, and
web3 alone takes ~0.7 s to import (a replay or backfill worker process would pay it).
"""

from __future__ import annotations

from functools import cache


class DatacoinError(Exception):
    """Base of all our errors."""


class RetryableError(DatacoinError):
    """Transient: the same call may succeed later (network, timeouts, node busy)."""


class PermanentError(DatacoinError):
    """Retrying will not help (bad input, revert, misconfiguration)."""


class ConfigurationError(PermanentError):
    """Settings or files are missing or inconsistent."""


@cache
def _transient() -> tuple[type[BaseException], ...]:
    import httpx
    import psycopg
    import redis.exceptions
    import requests
    from web3.exceptions import TimeExhausted

    return (
        ConnectionError,
        TimeoutError,
        httpx.TransportError,
        requests.ConnectionError,
        requests.Timeout,
        psycopg.OperationalError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        TimeExhausted,
    )


def classify(exc: BaseException) -> DatacoinError:
    """Map any exception to Retryable or Permanent (already-classified ones pass through)."""
    from web3.exceptions import Web3RPCError

    if isinstance(exc, DatacoinError):
        return exc
    if isinstance(exc, _transient()):
        return RetryableError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, Web3RPCError):
        # Node-side failures with server error codes (-32000 family, rate limits) are
        # transient; malformed requests (-32600..-32602) are not.
        code = exc.rpc_response.get("error", {}).get("code") if exc.rpc_response else None
        if code in (-32600, -32601, -32602):
            return PermanentError(str(exc))
        return RetryableError(str(exc))
    return PermanentError(f"{type(exc).__name__}: {exc}")
