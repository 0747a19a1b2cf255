"""Per-column statistics of an upload, accumulated batch by batch in bounded memory.

Every column: nulls and the distinct non-null values, counted exactly up to a bound (then
reported as "more than" the bound). Numbers: min, max, mean and an equal-width histogram
of the finite values (NaN and infinities left out; decimals read as float64); the
histogram's bins need the range, so they are counted in a second pass over the file.
Strings and booleans: the most frequent values, from a mergeable Misra-Gries summary (exact
while the column has at most the bound of distinct values; lower bounds beyond); strings
also the distribution of their lengths in characters (min, max, mean, histogram: a text
dataset's length profile). Dates and times: min and max. The document stays small: shown
strings are cut to MAX_VALUE_CHARS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from api.json_values import JsonSafe
from common.documents import ColumnProfile, Histogram, TextLengths, ValueCount

TOTAL_DISTINCT = 100_000  # distinct values tracked over all columns (memory bound)
MAX_DISTINCT = 10_000  # per column, when there are few columns
MIN_DISTINCT = 64
TOP_VALUES = 10
HISTOGRAM_BINS = 10
MAX_VALUE_CHARS = 64  # strings shown in the metadata document (top values, min, max)
LONG_KEY = 256  # longer values are tracked by (prefix, hash): bounded memory per entry


def is_number(kind: pa.DataType) -> bool:
    """Integers, floats and decimals."""
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _shows_top(kind: pa.DataType) -> bool:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    return bool(
        pa.types.is_string(value) or pa.types.is_large_string(value) or pa.types.is_boolean(value)
    )


def _is_text(kind: pa.DataType) -> bool:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    return bool(pa.types.is_string(value) or pa.types.is_large_string(value))


def _lengths(column: pa.Array) -> pa.Array:
    """Characters per value (a dictionary column's lengths taken from its dictionary)."""
    if pa.types.is_dictionary(column.type):
        return pc.take(pc.utf8_length(column.dictionary), column.indices)
    return pc.utf8_length(column)


def _nested(kind: pa.DataType) -> bool:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    return bool(pa.types.is_nested(value))


def _value_counts(column: pa.Array) -> dict[Any, int]:
    """Each non-null value of `column` and how often it occurs."""
    counted = pc.value_counts(column.drop_null())
    values, counts = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    return dict(zip(values, counts, strict=True))


class Summary(NamedTuple):
    """Values and their counts; `pruned` when values were dropped (counts lowered)."""

    values: pa.Array
    counts: pa.Array
    pruned: bool


def _summary(column: pa.Array, capacity: int) -> Summary:
    """A Misra-Gries summary of `column`'s non-null values: at most `capacity` values, each
    count lowered by the (capacity+1)-th largest (reduced in Arrow: Python sees only these)."""
    counted = pc.value_counts(column.drop_null())
    counts = counted.field("counts")
    if len(counted) <= capacity:
        return Summary(values=counted.field("values"), counts=counts, pruned=False)
    order = pc.array_sort_indices(counts, order="descending")
    cut = counts[order[capacity].as_py()]
    kept = pc.greater(counts, cut)
    return Summary(
        values=counted.field("values").filter(kept),
        counts=pc.subtract(counts.filter(kept), cut),
        pruned=True,
    )


def _key(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # one key for every batch's NaN (NaN != NaN)
    if isinstance(value, str | bytes) and len(value) > LONG_KEY:
        return (value[:MAX_VALUE_CHARS], hash(value))
    return value


class Frequencies:
    """Value counts in at most `capacity` entries (Misra-Gries, merged per batch): counts
    are exact until an entry first has to be dropped, lower bounds (by at most n/capacity)
    after."""

    def __init__(self, capacity: int, *, keep_top: bool) -> None:
        self.capacity = capacity
        self.keep_top = keep_top  # False: only the distinct count matters (stop past the bound)
        self.counts: dict[Any, int] = {}
        self.exact = True

    def add(self, column: pa.Array) -> None:
        if not self.exact and not self.keep_top:
            return
        batch = _summary(column, self.capacity)
        self.exact = self.exact and not batch.pruned
        for value, n in zip(batch.values.to_pylist(), batch.counts.to_pylist(), strict=True):
            key = _key(value)
            self.counts[key] = self.counts.get(key, 0) + n
        if len(self.counts) > self.capacity:
            cut = sorted(self.counts.values(), reverse=True)[self.capacity]
            self.counts = {k: n - cut for k, n in self.counts.items() if n > cut}
            self.exact = False
        if not self.exact and not self.keep_top:
            self.counts = {}

    def top(self, shown: JsonSafe) -> list[ValueCount]:
        """The most frequent values, most frequent first (ties: by value, as text)."""
        best = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP_VALUES]
        out = []
        for key, n in best:
            value = key[0] if isinstance(key, tuple) else key
            cut = JsonSafe(shown.max_chars)
            converted = cut.convert(value)
            out.append(
                ValueCount(value=converted, count=n, truncated=cut.truncated or key is not value)
            )
        return out


@dataclass
class Numbers:
    """Finite values of a numeric column: count, sum (exact for integers), range, bins."""

    count: int = 0
    total: int | float = 0
    low: Any = None
    high: Any = None
    bins: list[int] | None = None

    def add(self, column: pa.Array) -> None:
        values = _finite(column)
        if len(values) == 0:
            return
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        self.count += len(values)
        if pa.types.is_integer(values.type):  # decimal sums cannot overflow as int64 can
            self.total += int(pc.sum(values.cast(pa.decimal128(38, 0))).as_py())
        else:
            self.total += float(pc.sum(values).as_py())

    def bin(self, column: pa.Array) -> None:
        """Second pass: count the finite values into HISTOGRAM_BINS bins over [low, high]."""
        if self.count == 0:
            return
        bins = self.bins = self.bins or [0] * self._bin_count()
        values = _finite(column).cast(pa.float64())
        width = (float(self.high) - float(self.low)) / len(bins) or 1.0
        index = pc.floor(pc.divide(pc.subtract(values, float(self.low)), width))
        index = pc.min_element_wise(index, len(bins) - 1).cast(pa.int64())
        for i, n in _value_counts(index).items():
            bins[i] += n

    def _bin_count(self) -> int:
        return 1 if self.low == self.high else HISTOGRAM_BINS

    def histogram(self) -> Histogram | None:
        if self.bins is None:
            return None
        low, high = float(self.low), float(self.high)
        n = len(self.bins)
        edges = [low + (high - low) * i / n for i in range(n)] + [high]
        return Histogram(edges=edges, counts=self.bins)


def _finite(column: pa.Array) -> pa.Array:
    values = column.drop_null()
    if pa.types.is_decimal(values.type):
        values = values.cast(pa.float64())
    if pa.types.is_floating(values.type):
        values = values.filter(pc.is_finite(values))
    return values


class ColumnStats:
    """What is accumulated about one column."""

    def __init__(self, field: pa.Field, capacity: int) -> None:
        self.field = field
        self.frequencies = (
            None if _nested(field.type) else Frequencies(capacity, keep_top=_shows_top(field.type))
        )
        self.numbers = Numbers() if is_number(field.type) else None
        self.lengths = Numbers() if _is_text(field.type) else None
        self.temporal = pa.types.is_temporal(field.type)
        self.low: Any = None
        self.high: Any = None

    def add(self, column: pa.Array) -> None:
        if self.frequencies is not None:
            self.frequencies.add(column)
        if self.lengths is not None:
            self.lengths.add(_lengths(column))
        if self.numbers is not None:
            self.numbers.add(column)
        elif self.temporal and column.null_count < len(column):
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def profile(self, base: ColumnProfile) -> ColumnProfile:
        """`base` (name, type, nulls) with the statistics filled in."""
        shown = JsonSafe(MAX_VALUE_CHARS)
        update: dict[str, Any] = {}
        if self.frequencies is not None:
            frequencies = self.frequencies
            update["distinct"] = (
                len(frequencies.counts) if frequencies.exact else frequencies.capacity
            )
            update["distinct_exact"] = self.frequencies.exact
            if _shows_top(self.field.type):
                update["top"] = self.frequencies.top(shown)
                update["top_exact"] = self.frequencies.exact
        numbers = self.numbers
        if numbers is not None and numbers.count:
            update["min"], update["max"] = shown.convert(numbers.low), shown.convert(numbers.high)
            update["mean"] = numbers.total / numbers.count
            update["histogram"] = numbers.histogram()
        elif self.low is not None:
            update["min"], update["max"] = shown.convert(self.low), shown.convert(self.high)
        lengths = self.lengths
        if lengths is not None and lengths.count:
            update["lengths"] = TextLengths(
                min=int(lengths.low),
                max=int(lengths.high),
                mean=float(lengths.total) / lengths.count,
                histogram=lengths.histogram(),
            )
        return base.model_copy(update=update)


class TableStats:
    """Statistics of every column of a table read in batches (first pass: `add`; second,
    for histograms, when `needs_bins`: `bin`)."""

    def __init__(self, schema: pa.Schema) -> None:
        capacity = max(MIN_DISTINCT, min(MAX_DISTINCT, TOTAL_DISTINCT // len(schema)))
        self.columns = [ColumnStats(field, capacity) for field in schema]

    @property
    def needs_bins(self) -> bool:
        return any(
            (c.numbers is not None and c.numbers.count)
            or (c.lengths is not None and c.lengths.count)
            for c in self.columns
        )

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        for stats, column in zip(self.columns, batch.columns, strict=True):
            stats.add(_array(column))

    def bin(self, batch: pa.RecordBatch | pa.Table) -> None:
        for stats, column in zip(self.columns, batch.columns, strict=True):
            if stats.numbers is not None:
                stats.numbers.bin(_array(column))
            if stats.lengths is not None:
                stats.lengths.bin(_lengths(_array(column)))

    def profiles(self, bases: list[ColumnProfile]) -> list[ColumnProfile]:
        return [stats.profile(base) for stats, base in zip(self.columns, bases, strict=True)]


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def fit(columns: list[ColumnProfile], budget: int) -> list[ColumnProfile]:
    """`columns`, the last ones without top values and histograms while their JSON is over
    `budget` bytes (a thousand columns must not make the metadata document unfetchable)."""
    fitted = list(columns)
    size = sum(len(c.model_dump_json()) for c in fitted)
    for i in reversed(range(len(fitted))):
        if size <= budget:
            break
        slim = fitted[i].model_copy(
            update={"top": None, "top_exact": None, "histogram": None, "lengths": None}
        )
        size -= len(fitted[i].model_dump_json()) - len(slim.model_dump_json())
        fitted[i] = slim
    return fitted
