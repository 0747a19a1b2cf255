"""Row -> JSON-ready values (addresses EIP-55, uint256 as strings, hashes as 0x-hex)."""

from __future__ import annotations

import base64
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from eth_utils.address import to_checksum_address
from fastapi import HTTPException


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


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The values of a cursor made by encode_cursor; 400 when it is not one."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise HTTPException(400, "invalid cursor: pass back next_cursor unchanged") from None
    if not isinstance(values, list) or len(values) != size:
        raise HTTPException(400, "invalid cursor: pass back next_cursor unchanged")
    return values
