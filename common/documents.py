"""Documents stored on IPFS and referenced from chain events (validated on both ends)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


class TextLengths(BaseModel):
    """The lengths, in characters, of a text column's values."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)
    mean: float
    histogram: Histogram | None = None


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
    lengths: TextLengths | None = Field(None, description="text columns: value lengths")


#: The type of an image archive's ``image`` column (its ``label`` column is a string).
IMAGE_COLUMN_TYPE = "image"
MAX_CLASSES = 1_000


class ClassCount(BaseModel):
    """How many images one class holds."""

    label: str = Field(max_length=128)
    count: int = Field(ge=0)


class SizeRange(BaseModel):
    """Smallest, largest and mean of an image side, in pixels."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)
    mean: float


class ImageSetProfile(BaseModel):
    """An image classification archive: its layout, classes and image sizes."""

    layout: Literal["folders", "labels_csv"] = Field(
        description="class folders (label/image.png), or images plus a labels.csv"
    )
    images: int = Field(ge=0)
    classes: list[ClassCount] = Field(max_length=MAX_CLASSES, description="by label")
    width: SizeRange
    height: SizeRange
    formats: dict[str, int] = Field(description="images per format (PNG, JPEG, WEBP)")
    image_bytes: int = Field(ge=0, description="the images' bytes, uncompressed from the archive")


class DatasetDocument(BaseModel):
    """The metadata document a listing's `metadataCid` points to."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    license: str | None = Field(None, max_length=100)
    category: str = Field(min_length=1, max_length=32)
    format: Literal["csv", "jsonl", "json", "parquet", "zip", "tar"]
    rows: int = Field(ge=0, description="rows of a table; images of an image archive")
    columns: list[ColumnProfile] = Field(
        description="an image archive has two: `image` (type image) and `label`"
    )
    size: int = Field(ge=0, description="bytes of the original file")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the original file")
    filename: str = Field(max_length=255)
    content_cid: str = Field(description="CID of the stored bytes (an envelope if encrypted)")
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the stored bytes")
    encrypted: bool
    preview_cid: str | None = Field(
        None,
        description="CID of the PreviewDocument (first rows, or an image archive's "
        "thumbnails, unencrypted); none if absent",
    )
    images: ImageSetProfile | None = Field(None, description="image archives only")


class PreviewDocument(BaseModel):
    """Rows a provider publishes, unencrypted, for buyers to judge a dataset by."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    columns: list[str]
    rows: list[list[Any]] = Field(description="the file's first rows, values JSON-safe")
    truncated: bool = Field(
        False, description="long strings were cut or rows left out to bound the document"
    )


#: Bounds of a profile document (checked by POST /profiles and again by the resolver: a
#: document on chain may come from anywhere).
MAX_DISPLAY_NAME = 64
MAX_BIO = 1000
MAX_LINKS = 5
MAX_LINK = 2000
MAX_CID = 128  # as the contracts' MAX_CID_BYTES


def _no_controls(value: str, allowed: str = "") -> str:
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise ValueError("must not contain control characters")
    return value


def _bio_text(value: str) -> str:
    # Paragraphs allowed. A browser's form sends every line break of a textarea as CRLF
    # (HTML's form encoding): stored as LF, so one text has one document; a lone CR is refused.
    return _no_controls(value.replace("\r\n", "\n"), allowed="\n\t")


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an https:// URL with a host and no spaces")
    return _no_controls(value)


DisplayName = Annotated[str, AfterValidator(_no_controls)]
Bio = Annotated[str, AfterValidator(_bio_text)]
HttpsUrl = Annotated[str, Field(max_length=MAX_LINK), AfterValidator(_https_url)]


class ProfileDocument(BaseModel):
    """The document an account's ``Profiles.setProfile(cid)`` points to."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    display_name: DisplayName = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    bio: Bio = Field("", max_length=MAX_BIO)
    links: list[HttpsUrl] = Field(default_factory=list, max_length=MAX_LINKS)
    avatar_cid: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_CID,
        description="CID of a PNG, JPEG or WebP image (its type is sniffed when served)",
    )
