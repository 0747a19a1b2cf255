"""Documents stored on IPFS and referenced from chain events (validated on both ends)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A value as a metadata or preview document holds it: integers beyond +-2^53 and
#: decimals as decimal strings, bytes as hex, floats finite (JSON readers lose the rest).
JsonScalar = bool | int | float | str | None


class Histogram(BaseModel):
    """Counts of a numeric column's finite values in equal-width bins: bin i holds
    edges[i] <= v < edges[i+1] (the last bin also holds edges[-1])."""

    edges: list[float]
    counts: list[int]


class ValueCount(BaseModel):
    """One of a column's most frequent values."""

    value: JsonScalar
    count: int = Field(ge=0, description="exact when the column's top_exact is true")
    truncated: bool = Field(False, description="a long string, cut to its first characters")


class ColumnProfile(BaseModel):
    """One column of a tabular dataset: its schema and summary statistics (absent in
    documents from before they were computed, or left out to keep the document small)."""

    name: str
    type: str
    nulls: int = Field(ge=0)
    distinct: int | None = Field(None, ge=0, description="non-null distinct values")
    distinct_exact: bool | None = Field(
        None, description="false: there are more than `distinct` (the counting bound)"
    )
    min: JsonScalar = None
    max: JsonScalar = None
    mean: float | None = Field(None, description="of the finite values (numbers only)")
    histogram: Histogram | None = None
    top: list[ValueCount] | None = Field(None, description="strings and booleans: most frequent")
    top_exact: bool | None = None


class DatasetDocument(BaseModel):
    """The metadata document a listing's `metadataCid` points to."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    license: str | None = Field(None, max_length=100)
    category: str = Field(min_length=1, max_length=32)
    format: Literal["csv", "jsonl", "json", "parquet"]
    rows: int = Field(ge=0)
    columns: list[ColumnProfile]
    size: int = Field(ge=0, description="bytes of the original file")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the original file")
    filename: str = Field(max_length=255)
    content_cid: str = Field(description="CID of the stored bytes (an envelope if encrypted)")
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the stored bytes")
    encrypted: bool
    preview_cid: str | None = Field(
        None, description="CID of the PreviewDocument (first rows, unencrypted); none if absent"
    )


class PreviewDocument(BaseModel):
    """Rows a provider publishes, unencrypted, for buyers to judge a dataset by."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    columns: list[str]
    rows: list[list[Any]] = Field(description="the file's first rows, values JSON-safe")
    truncated: bool = Field(
        False, description="long strings were cut or rows left out to bound the document"
    )
