"""Preview rows: the first rows of an upload, published unencrypted when the provider asks,
for buyers to judge a dataset by before paying. Bounded: at most MAX_PREVIEW_ROWS rows, cells
cut to MAX_CELL_CHARS, the document to MAX_PREVIEW_BYTES (rows past it left out); any cut is
recorded in the document's `truncated`."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from api.json_values import JsonSafe
from common.documents import PreviewDocument

MAX_PREVIEW_ROWS = 100
MAX_CELL_CHARS = 1000
MAX_PREVIEW_BYTES = 1 << 20


class PreviewRows:
    """Collects the first `wanted` rows of the batches it is given, JSON-safe."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.rows: list[list[Any]] = []
        self.size = 0
        self.safe = JsonSafe(MAX_CELL_CHARS)
        self.full = False  # rows were left out to bound the document

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        missing = self.wanted - len(self.rows)
        if missing <= 0 or self.full:
            return
        head = batch.slice(0, missing)
        columns = [column.to_pylist() for column in head.columns]
        for row in zip(*columns, strict=True):
            converted = [self.safe.convert(value) for value in row]
            size = len(orjson.dumps(converted)) + 1
            if self.size + size > MAX_PREVIEW_BYTES:
                self.full = True
                return
            self.rows.append(converted)
            self.size += size

    def document(self, schema: pa.Schema) -> PreviewDocument | None:
        """The preview document; None when no rows were asked for."""
        if self.wanted == 0:
            return None
        return PreviewDocument(
            columns=schema.names, rows=self.rows, truncated=self.full or self.safe.truncated
        )
