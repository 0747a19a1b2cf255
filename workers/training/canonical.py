"""Canonical JSON and hashes: what the chain's hashes are taken over (no torch here)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no whitespace, shortest float repr, non-finite floats as null."""
    return orjson.dumps(_finite(document), option=orjson.OPT_SORT_KEYS)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()
