"""The error taxonomy: driver errors map to retryable or permanent in one place."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest
import redis
from web3.exceptions import Web3RPCError
from web3.types import RPCResponse

from common.errors import (
    ConfigurationError,
    PermanentError,
    RetryableError,
    classify,
)


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("server closed the connection"),
        redis.ConnectionError("connection refused"),
        redis.TimeoutError("timed out"),
        httpx.ConnectError("refused"),
        TimeoutError(),
        Web3RPCError("busy", rpc_response=RPCResponse(error={"code": -32000, "message": "busy"})),
    ],
)
def test_transient_driver_errors_are_retryable(exc: BaseException) -> None:
    assert isinstance(classify(exc), RetryableError)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad input"),
        Web3RPCError(
            "no such method",
            rpc_response=RPCResponse(error={"code": -32601, "message": "no such method"}),
        ),
        psycopg.errors.UniqueViolation("duplicate key"),
    ],
)
def test_everything_else_is_permanent(exc: BaseException) -> None:
    assert isinstance(classify(exc), PermanentError)


def test_classified_errors_pass_through() -> None:
    err = ConfigurationError("missing manifest")
    assert classify(err) is err


def test_importing_the_taxonomy_does_not_import_the_drivers() -> None:
    # Every process imports these classes; web3 alone costs ~0.7 s to import.
    code = (
        "import sys, common.errors; print(sorted({'web3', 'psycopg', 'httpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
