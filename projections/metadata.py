"""Documents fetched from IPFS, cached by CID: dataset metadata, model cards, profiles.

Not a fold of events: a content-addressed cache (the CID fixes the content), so it lives
in the public schema, survives replays, and is left out of the state hash. The API joins
it to ``datasets`` for titles, descriptions and full-text search.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Computed, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base

SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(tags, '')), 'C')"
)


class DatasetMetadata(Base):
    """A validated metadata document (the `metadataCid` of a listing)."""

    __tablename__ = "dataset_metadata"

    cid: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    columns: Mapped[int | None] = mapped_column(Integer)
    license: Mapped[str | None] = mapped_column(Text)
    content_cid: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    search: Mapped[str] = mapped_column(TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True))
    fetched_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_dataset_metadata_search", "search", postgresql_using="gin"),)


class ModelCard(Base):
    """A training job's model card (metrics and provenance), cached by its CID."""

    __tablename__ = "model_cards"

    cid: Mapped[str] = mapped_column(Text, primary_key=True)
    document: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ProfileDocumentRow(Base):
    """A validated profile document (the CID of an account's ``setProfile``)."""

    __tablename__ = "profile_documents"

    cid: Mapped[str] = mapped_column(Text, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    avatar_cid: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime] = mapped_column(server_default=func.now())
