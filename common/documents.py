"""Documents stored on IPFS and referenced from chain events (validated on both ends)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ColumnProfile(BaseModel):
    """One column of a tabular dataset."""

    name: str
    type: str
    nulls: int = Field(ge=0)


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
