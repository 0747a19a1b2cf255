"""Why a document the resolver fetches by CID is not in its cache (yet).

An operational table of the read-model schema, not a fold of events: it is not hashed and
a rebuilt schema starts it empty (each failing CID is then tried once more). A permanent
failure (not a CID, not a file, an invalid or oversized document: the CID fixes those
bytes forever) is recorded once and never retried; a transient one (not found, a node
error) is retried at ``next_attempt_at``, backing off per CID.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from projections.base import ReadModelBase


class DocumentFailureRow(ReadModelBase):
    """The last failure to fetch one document."""

    __tablename__ = "document_failures"
    kind: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="metadata | model_card | profile"
    )
    cid: Mapped[str] = mapped_column(Text, primary_key=True)
    permanent: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None] = mapped_column(comment="NULL: never (permanent)")


DOCUMENT_FAILURES: Table = DocumentFailureRow.__table__  # type: ignore[assignment]
