"""Validate and profile an uploaded table (CSV, JSON, JSON Lines, Parquet) with pyarrow.

Reads from a file on disk, batch by batch where the format allows, so a large upload is
never parsed into memory whole (JSON arrays excepted: they are bounded by the size limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from common.documents import ColumnProfile

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}
MAX_NESTING = 4  # struct/list depth accepted in JSON and Parquet columns


class UploadRejectedError(ValueError):
    """The upload cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Profile:
    """What the metadata document says about the table."""

    format: str
    rows: int
    columns: list[ColumnProfile]


def format_of(filename: str) -> str:
    """The table format named by a file's extension; 415 for anything else."""
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        raise UploadRejectedError(415, f"unsupported file type {suffix or '(none)'!r}: "
                                  "send .csv, .json, .jsonl or .parquet")  # fmt: skip
    return FORMATS[suffix]


def _depth(kind: pa.DataType) -> int:
    if pa.types.is_struct(kind):
        return 1 + max((_depth(kind.field(i).type) for i in range(kind.num_fields)), default=0)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return 1 + _depth(kind.value_type)
    return 0


def _sniff(path: Path, fmt: str) -> None:
    with path.open("rb") as f:
        head = f.read(8192)
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            raise UploadRejectedError(400, "not a Parquet file (no PAR1 magic): mislabelled?")
        return
    if head.startswith(b"PAR1") or b"\x00" in head:
        raise UploadRejectedError(400, f"binary content in a .{fmt} upload: mislabelled?")


class _Counter:
    """Rows and null counts accumulated over record batches."""

    def __init__(self, max_rows: int, max_columns: int) -> None:
        self.max_rows, self.max_columns = max_rows, max_columns
        self.rows = 0
        self.nulls: list[int] = []
        self.schema: pa.Schema | None = None

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self.schema is None:
            self.schema = batch.schema
            if len(batch.schema) > self.max_columns:
                raise UploadRejectedError(
                    413, f"{len(batch.schema)} columns: the limit is {self.max_columns}"
                )
            if len(batch.schema) == 0:
                raise UploadRejectedError(400, "the table has no columns")
            deepest = max(_depth(f.type) for f in batch.schema)
            if deepest > MAX_NESTING:
                raise UploadRejectedError(
                    400, f"columns nested {deepest} deep: the limit is {MAX_NESTING}"
                )
            self.nulls = [0] * len(batch.schema)
        self.rows += batch.num_rows
        if self.rows > self.max_rows:
            raise UploadRejectedError(413, f"more than {self.max_rows} rows")
        for i in range(batch.num_columns):
            self.nulls[i] += batch.column(i).null_count

    def profile(self, fmt: str) -> Profile:
        if self.schema is None:
            raise UploadRejectedError(400, "the table is empty")
        cols = [ColumnProfile(name=f.name, type=str(f.type), nulls=n)
                for f, n in zip(self.schema, self.nulls, strict=True)]  # fmt: skip
        return Profile(fmt, self.rows, cols)


def profile_table(path: Path, filename: str, max_rows: int, max_columns: int) -> Profile:
    """Parse and profile the table at `path`; UploadRejectedError when it is not a valid one."""
    fmt = format_of(filename)
    _sniff(path, fmt)
    counter = _Counter(max_rows, max_columns)
    try:
        if fmt == "csv":
            reader = pacsv.open_csv(path)
            for batch in reader:
                counter.add(batch)
        elif fmt == "jsonl":
            counter.add(pajson.read_json(path))
        elif fmt == "json":
            records = orjson.loads(path.read_bytes())
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise UploadRejectedError(400, "a .json upload must be an array of objects")
            counter.add(pa.Table.from_pylist(records))
        else:
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches():
                counter.add(batch)
    except UploadRejectedError:
        raise
    except (
        pa.ArrowException,
        orjson.JSONDecodeError,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        raise UploadRejectedError(400, f"cannot parse the {fmt} file: {str(exc)[:300]}") from None
    return counter.profile(fmt)
