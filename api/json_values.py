"""Table values as JSON documents hold them, readable by any JSON reader.

Integers beyond +-2^53 (what a JavaScript number holds exactly) and decimals become decimal
strings, bytes hex, non-finite floats the strings "NaN", "Infinity" and "-Infinity", dates
and times ISO 8601; long strings are cut (and the cut is recorded, never silent).
"""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass
from typing import Any

MAX_SAFE_INTEGER = 2**53


@dataclass
class JsonSafe:
    """Converts values one by one; `truncated` turns true once a string was cut."""

    max_chars: int
    truncated: bool = False

    def convert(self, value: Any) -> Any:
        """`value` (as pyarrow's `as_py` gives it) as JSON-safe data."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else _non_finite(value)
        if isinstance(value, str):
            return self._cut(value)
        if isinstance(value, bytes):
            return self._cut(value.hex())
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, dict):
            return {str(k): self.convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.convert(v) for v in value]
        return self._cut(str(value))  # durations, intervals: their readable form

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        self.truncated = True
        return text[: self.max_chars]


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
