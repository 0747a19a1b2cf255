"""Fetches the IPFS documents listings and logged jobs point to, into the CID-keyed caches
(`dataset_metadata`, `model_cards`) the API joins for titles, search and metrics.

A document that is missing or invalid is retried with backoff, never fatal: anyone can
list any CID on chain, so the platform must tolerate garbage.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from common.db import libpq_url
from common.documents import DatasetDocument
from common.errors import DatacoinError
from projections.schema import check_schema_name
from storage.base import BlobStore
from workers.loop import service_loop

log = structlog.get_logger(__name__)
MAX_DOCUMENT = 1 << 20  # a metadata document or model card is small


def _fetch(store: BlobStore, cid: str) -> bytes:
    out = bytearray()
    for chunk in store.get(cid):
        out += chunk
        if len(out) > MAX_DOCUMENT:
            raise ValueError(f"document {cid} exceeds {MAX_DOCUMENT} bytes")
    return bytes(out)


@dataclass
class Resolver:
    """Fills the document caches from storage."""

    database_url: str
    store: BlobStore
    schema: str = "readmodels"
    retry_after: float = 30.0
    _failed: dict[str, float] = field(default_factory=dict)

    def _pending(self, conn: psycopg.Connection[Any], query: sql.Composed) -> list[str]:
        now = time.monotonic()
        return [cid for (cid,) in conn.execute(query).fetchall() if self._failed.get(cid, 0) <= now]

    def resolve_once(self) -> int:
        """Fetch every missing document once; returns how many were stored."""
        schema = check_schema_name(self.schema)
        datasets = sql.SQL(
            "SELECT DISTINCT d.metadata_cid FROM {} d WHERE NOT EXISTS"
            " (SELECT 1 FROM dataset_metadata m WHERE m.cid = d.metadata_cid) LIMIT 200"
        ).format(sql.Identifier(schema, "datasets"))
        cards = sql.SQL(
            "SELECT DISTINCT j.metrics_cid FROM {} j WHERE j.metrics_cid IS NOT NULL AND NOT"
            " EXISTS (SELECT 1 FROM model_cards c WHERE c.cid = j.metrics_cid) LIMIT 200"
        ).format(sql.Identifier(schema, "training_jobs"))
        stored = 0
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            for cid in self._pending(conn, datasets):
                stored += self._store_metadata(conn, cid)
            for cid in self._pending(conn, cards):
                stored += self._store_card(conn, cid)
        return stored

    def _store_metadata(self, conn: psycopg.Connection[Any], cid: str) -> int:
        try:
            doc = DatasetDocument.model_validate_json(_fetch(self.store, cid))
        except (DatacoinError, ValidationError, ValueError) as exc:
            self._failed[cid] = time.monotonic() + self.retry_after
            log.warning("resolver.metadata.unusable", cid=cid, error=str(exc)[:200])
            return 0
        conn.execute(
            "INSERT INTO dataset_metadata (cid, title, description, tags, format, rows, columns,"
            " license, content_cid, document) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (cid) DO NOTHING",
            (cid, doc.title, doc.description, " ".join(doc.tags), doc.format, doc.rows,
             len(doc.columns), doc.license, doc.content_cid, Jsonb(doc.model_dump(mode="json"))),
        )  # fmt: skip
        log.info("resolver.metadata.stored", cid=cid, title=doc.title)
        return 1

    def _store_card(self, conn: psycopg.Connection[Any], cid: str) -> int:
        try:
            card = orjson.loads(_fetch(self.store, cid))
            if not isinstance(card, dict):
                raise ValueError("a model card is a JSON object")
        except (DatacoinError, ValueError) as exc:
            self._failed[cid] = time.monotonic() + self.retry_after
            log.warning("resolver.card.unusable", cid=cid, error=str(exc)[:200])
            return 0
        conn.execute(
            "INSERT INTO model_cards (cid, document) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (cid, Jsonb(card)),
        )
        return 1

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Resolve until `stop` is set."""
        service_loop("resolver", self.resolve_once, stop, interval)
