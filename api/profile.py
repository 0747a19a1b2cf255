"""Validate and profile an uploaded table (CSV, JSON, JSON Lines, Parquet) with pyarrow;
an image archive (ZIP, tar) goes to api.image_profile.

Reads from a file on disk, batch by batch where the format allows, so a large upload is
never parsed into memory whole (JSON arrays excepted: they are bounded by the size limit).
Text formats must be UTF-8 (the first bad byte is named). Parquet is compressed, so its size
on disk says little: the footer's uncompressed sizes are checked before a page is read, and
the bytes actually decoded (dictionaries expanded) are counted batch by batch against
`Limits.max_decoded_bytes`. Column statistics (api.column_stats) and preview rows
(api.preview) are gathered in the same pass, in bounded memory.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from api.column_stats import TableStats
from api.preview import PreviewRows
from common.documents import ColumnProfile, ImageSetProfile, PreviewDocument

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".zip": "zip",
    ".tar": "tar",
}
ARCHIVE_FORMATS = {"zip", "tar"}
MAX_NESTING = 4  # struct/list depth accepted in JSON and Parquet columns
TEXT_FORMATS = {"csv", "jsonl", "json"}
PARQUET_BATCH_ROWS = 8192  # rows decoded at a time: memory is this times the row width
UTF8_CHUNK = 1 << 20


class UploadRejectedError(ValueError):
    """The upload cannot be accepted; `status` is the HTTP status to answer with, `code`
    the problem code when more precise than the status's (``upload.archive.*``)."""

    def __init__(self, status: int, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Limits:
    """How big a table may be, once parsed."""

    max_rows: int
    max_columns: int
    max_decoded_bytes: int  # Parquet: bytes after decompression and dictionary expansion


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What the metadata document says about the table."""

    format: str
    rows: int
    columns: list[ColumnProfile]
    preview: PreviewDocument | None  # the first rows (an archive: thumbnails), when asked for
    images: ImageSetProfile | None = None  # image archives only


def format_of(filename: str) -> str:
    """The table format named by a file's extension; 415 for anything else."""
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        raise UploadRejectedError(
            415,
            f"unsupported file type {suffix or '(none)'!r}: send .csv, .json, .jsonl, "
            ".parquet, or an image archive (.zip, .tar)",
        )
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


def check_utf8(path: Path) -> None:
    """400 naming the byte offset and line of the first byte that is not UTF-8.

    pyarrow would otherwise type such a CSV column `binary` and accept it."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset, lines = 0, 0  # bytes and newlines before the current chunk
    with path.open("rb") as f:
        while True:
            chunk = f.read(UTF8_CHUNK)
            pending = len(decoder.getstate()[0])  # an unfinished sequence carried over
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start indexes the carried-over bytes followed by this chunk
                bad = offset - pending + exc.start
                line = 1 + lines + chunk[: max(exc.start - pending, 0)].count(b"\n")
                raise UploadRejectedError(
                    400,
                    f"the file is not valid UTF-8: byte offset {bad} (line {line}), "
                    f"{exc.reason}; text uploads must be UTF-8",
                ) from None
            if not chunk:
                return
            offset += len(chunk)
            lines += chunk.count(b"\n")


def _type_name(kind: pa.DataType) -> str:
    # Parquet byte-array columns are read dictionary-encoded (see _read_parquet): the
    # profile names what the values are, as the file's readers will see them.
    return str(kind.value_type) if pa.types.is_dictionary(kind) else str(kind)


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

    def profile(self, fmt: str, stats: TableStats | None, preview: PreviewRows) -> Profile:
        if self.schema is None or stats is None:
            raise UploadRejectedError(400, "the table is empty")
        cols = [
            ColumnProfile(name=f.name, type=_type_name(f.type), nulls=n)
            for f, n in zip(self.schema, self.nulls, strict=True)
        ]
        return Profile(
            format=fmt,
            rows=self.rows,
            columns=stats.profiles(cols),
            preview=preview.document(self.schema),
        )


def _decoded_bytes(column: pa.Array) -> int:
    """What the column takes once decoded plainly: a dictionary column as if expanded."""
    if pa.types.is_dictionary(column.type):
        lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
        values = pc.sum(lengths).as_py() or 0
        return int(values) + 4 * len(column)  # + the offsets its readers will build
    return int(column.nbytes)


def _check_parquet_footer(path: Path, limits: Limits) -> pa.Schema:
    """Refuse what the footer already says is too big, before a single page is read."""
    meta = pq.read_metadata(path)
    schema: pa.Schema = meta.schema.to_arrow_schema()
    if len(schema) > limits.max_columns:
        raise UploadRejectedError(413, f"{len(schema)} columns: the limit is {limits.max_columns}")
    if meta.num_rows > limits.max_rows:
        raise UploadRejectedError(413, f"{meta.num_rows} rows: the limit is {limits.max_rows}")
    declared = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )
    if declared > limits.max_decoded_bytes:
        raise UploadRejectedError(
            413,
            f"the Parquet file decompresses to {declared} bytes: "
            f"the limit is {limits.max_decoded_bytes}",
        )
    return schema


def _parquet_batches(path: Path, limits: Limits) -> Iterator[pa.RecordBatch]:
    schema = _check_parquet_footer(path, limits)
    # Byte-array columns stay dictionary-encoded while read: a value repeated a million
    # times is held once, and _decoded_bytes still counts it a million times.
    binary = [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        or pa.types.is_binary(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_large_binary(f.type)
    ]
    parquet = pq.ParquetFile(path, read_dictionary=binary)
    decoded = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        decoded += sum(_decoded_bytes(column) for column in batch.columns)
        if decoded > limits.max_decoded_bytes:
            raise UploadRejectedError(
                413, f"the Parquet file decompresses to more than {limits.max_decoded_bytes} bytes"
            )
        yield batch


def _json_array(path: Path) -> pa.Table:
    records = orjson.loads(path.read_bytes())
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UploadRejectedError(400, "a .json upload must be an array of objects")
    try:
        return pa.Table.from_pylist(records)
    except OverflowError:
        # e.g. 18446744073709551615 and -1 in one column: no Arrow integer holds both
        raise UploadRejectedError(
            400,
            "a column mixes integers no 64-bit type holds "
            "together (e.g. above 2^63-1 and negative)",
        ) from None


def _read(path: Path, fmt: str, limits: Limits) -> Iterator[pa.RecordBatch | pa.Table]:
    """The table, batch by batch (JSON Lines and JSON arrays: whole); UploadRejectedError
    for anything that does not parse."""
    try:
        if fmt == "csv":
            yield from pacsv.open_csv(path)
        elif fmt == "jsonl":
            yield pajson.read_json(path)
        elif fmt == "json":
            yield _json_array(path)
        else:
            yield from _parquet_batches(path, limits)
    except UploadRejectedError:
        raise
    except (
        pa.ArrowException,
        orjson.JSONDecodeError,
        UnicodeDecodeError,
        ValueError,
        OverflowError,
        OSError,
    ) as exc:
        raise UploadRejectedError(400, f"cannot parse the {fmt} file: {str(exc)[:300]}") from None


def profile_table(path: Path, filename: str, limits: Limits, preview_rows: int = 0) -> Profile:
    """Parse and profile the table at `path`, keeping its first `preview_rows` rows;
    UploadRejectedError when it is not a valid one.

    Two passes when the table has numbers: the histograms' bins need each column's range."""
    fmt = format_of(filename)
    if fmt in ARCHIVE_FORMATS:
        from api.image_profile import profile_archive

        return profile_archive(path, fmt, limits, preview_rows)
    _sniff(path, fmt)
    if fmt in TEXT_FORMATS:
        check_utf8(path)
    counter = _Counter(limits.max_rows, limits.max_columns)
    preview = PreviewRows(preview_rows)
    stats: TableStats | None = None
    for batch in _read(path, fmt, limits):
        counter.add(batch)
        stats = stats or TableStats(batch.schema)
        stats.add(batch)
        preview.add(batch)
    if stats is not None and stats.needs_bins:
        for batch in _read(path, fmt, limits):
            stats.bin(batch)
    return counter.profile(fmt, stats, preview)
