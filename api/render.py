"""Row -> JSON-ready values (addresses EIP-55, uint256 as strings, hashes as 0x-hex)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from eth_utils.address import to_checksum_address

from api.problems import Problem


def address(raw: bytes | memoryview | None) -> str | None:
    """EIP-55 form of a 20-byte address."""
    return None if raw is None else _checksum(bytes(raw))


@lru_cache(maxsize=65_536)
def _checksum(raw: bytes) -> str:
    # eth_utils' checksum costs ~60 us; the same few thousand addresses repeat on every page.
    return str(to_checksum_address(raw))


def hex0x(raw: bytes | memoryview | None) -> str | None:
    """0x-hex of raw bytes."""
    return None if raw is None else "0x" + bytes(raw).hex()


def uint(value: int | Decimal | None) -> str | None:
    """A uint256 as a decimal string."""
    return None if value is None else str(int(value))


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for keyset pagination."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


BIGINT_MAX = 2**63 - 1
_UINT256 = re.compile(r"[0-9]{1,78}")  # ASCII digits only: str.isdigit() also takes "²"

#: Checks one value of a decoded cursor and returns what to bind; ValueError says why not.
CursorField = Callable[[object], int | float]


def cursor_bigint(value: object) -> int:
    """A BIGINT key (block number, chain id, counter): a JSON integer in [0, 2**63-1]."""
    # type() and not isinstance(): True and False are ints to Python, not to PostgreSQL
    if type(value) is not int or not 0 <= value <= BIGINT_MAX:
        raise ValueError(f"{value!r} is not an integer in [0, 2**63-1]")
    return value


def cursor_uint256(value: object) -> int:
    """A uint256 key (price, dataset id): a decimal string, bound as a number (psycopg
    picks numeric past 2**63) so PostgreSQL compares numbers, never text."""
    if not isinstance(value, str) or not _UINT256.fullmatch(value):
        raise ValueError(f"{value!r} is not a uint256 decimal string")
    return int(value)


def cursor_rating(value: object) -> float:
    """A mean rating key: a JSON number in [0, 5] (0 stands for "not rated yet")."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 5:
        raise ValueError(f"{value!r} is not a rating in [0, 5]")
    return float(value)


def decode_cursor(cursor: str, fields: Sequence[CursorField]) -> list[int | float]:
    """The values of a cursor made by encode_cursor, each checked by its field: a cursor
    is opaque but travels through clients, so it is hostile input like any other. 400
    (with the reason) when it is not one we could have issued."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise _bad_cursor("not base64 of JSON") from None
    if not isinstance(values, list) or len(values) != len(fields):
        raise _bad_cursor(f"expected a list of {len(fields)} values")
    try:
        return [check(value) for check, value in zip(fields, values, strict=True)]
    except ValueError as exc:
        raise _bad_cursor(str(exc)) from None


def _bad_cursor(reason: str) -> Problem:
    return Problem(
        400, "cursor.invalid", f"invalid cursor ({reason}): pass back next_cursor unchanged"
    )
