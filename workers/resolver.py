"""Fetches the IPFS documents listings, logged jobs and profiles point to, into the CID-keyed
caches (`dataset_metadata`, `model_cards`, `profile_documents`) the API joins for titles,
search, metrics and profiles.

Anyone can list any CID on chain, so the platform must tolerate garbage, and never let
it crowd out the rest. A failure is recorded in the read schema's ``document_failures``
(see :mod:`projections.failures`) and counted (``datacoin_resolver_failures``): a
permanent one (the CID fixes its bytes) once and never retried; a transient one (not
found, a node error) retried per CID with capped, jittered exponential backoff. CIDs that
are not due are skipped in the query itself, before its ``LIMIT``: thousands of failing
CIDs never hide a resolvable one behind them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from psycopg import sql
from psycopg.types.json import Jsonb

from common.db import libpq_url
from common.documents import DatasetDocument, ProfileDocument
from common.errors import DatacoinError, PermanentError
from common.metrics import DatabaseCollector
from projections.outage import backoff_delay
from projections.schema import check_schema_name
from storage.base import BlobStore
from storage.errors import BlockNotFoundError, ContentMismatchError
from workers.loop import service_loop

log = structlog.get_logger(__name__)
MAX_DOCUMENT = 1 << 20  # a metadata document or model card is small
METADATA, MODEL_CARD, PROFILE = "metadata", "model_card", "profile"


def _fetch(blobs: BlobStore, cid: str) -> bytes:
    out = bytearray()
    for chunk in blobs.get(cid):
        out += chunk
        if len(out) > MAX_DOCUMENT:
            raise ValueError(f"document {cid} exceeds {MAX_DOCUMENT} bytes")
    return bytes(out)


def is_permanent(exc: BaseException) -> bool:
    """Whether fetching or parsing a document failed for good. A CID fixes its bytes, so a
    malformed CID, a DAG that is no file, an oversized or invalid document stay so; a
    missing block (not uploaded, not yet provided) or a node's wrong answer may pass."""
    if isinstance(exc, BlockNotFoundError | ContentMismatchError):
        return False
    return isinstance(exc, PermanentError | ValueError)  # (pydantic's errors are ValueErrors)


class ResolverMetrics:
    """Counters of one resolver (own registry: no global state at import time)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.failures = Counter(
            "datacoin_resolver_failures",
            "Documents that could not be fetched or used",
            ["kind", "permanent"],
            registry=self.registry,
        )
        self.stored = Counter(
            "datacoin_resolver_stored",
            "Documents fetched into their cache",
            ["kind"],
            registry=self.registry,
        )


@dataclass(frozen=True)
class Pending:
    """A CID to fetch, and how many tries of it failed so far."""

    cid: str
    attempts: int


@dataclass(frozen=True)
class DocumentKind:
    """Where one kind of document's CIDs come from (`source`.`column`, in the read
    schema) and which cache holds them (public)."""

    name: str
    source: str
    column: str
    cache: str


KINDS = (
    DocumentKind(METADATA, "datasets", "metadata_cid", "dataset_metadata"),
    DocumentKind(MODEL_CARD, "training_jobs", "metrics_cid", "model_cards"),
    DocumentKind(PROFILE, "profiles", "profile_cid", "profile_documents"),
)


def _pending_query(schema: str, kind: DocumentKind) -> sql.Composed:
    # Never-tried CIDs first, then retries by how long they have been due.
    return sql.SQL(
        "SELECT s.cid, coalesce(f.attempts, 0) FROM"
        " (SELECT DISTINCT {column} AS cid FROM {source} WHERE {column} IS NOT NULL) s"
        " LEFT JOIN {failures} f ON f.kind = %(kind)s AND f.cid = s.cid"
        " WHERE NOT EXISTS (SELECT 1 FROM {cache} c WHERE c.cid = s.cid)"
        " AND (f.cid IS NULL OR (NOT f.permanent AND f.next_attempt_at <= now()))"
        " ORDER BY f.next_attempt_at NULLS FIRST, s.cid LIMIT %(limit)s"
    ).format(
        column=sql.Identifier(kind.column),
        source=sql.Identifier(schema, kind.source),
        failures=sql.Identifier(schema, "document_failures"),
        cache=sql.Identifier(kind.cache),
    )


def _backlog_query(schema: str, kind: DocumentKind) -> sql.Composed:
    # Every CID still to fetch: never tried, or failed transiently (due now or later).
    return sql.SQL(
        "SELECT count(*) FROM"
        " (SELECT DISTINCT {column} AS cid FROM {source} WHERE {column} IS NOT NULL) s"
        " WHERE NOT EXISTS (SELECT 1 FROM {cache} c WHERE c.cid = s.cid)"
        " AND NOT EXISTS (SELECT 1 FROM {failures} f WHERE f.kind = %(kind)s"
        "  AND f.cid = s.cid AND f.permanent)"
    ).format(
        column=sql.Identifier(kind.column),
        source=sql.Identifier(schema, kind.source),
        failures=sql.Identifier(schema, "document_failures"),
        cache=sql.Identifier(kind.cache),
    )


class ResolverBacklog(DatabaseCollector):
    """``datacoin_resolver_backlog{kind}``: documents named on chain that are neither in
    their cache nor given up on (permanent failures are not backlog), read at each scrape.
    A backlog that only grows means storage (the IPFS node) does not answer."""

    def __init__(self, database_url: str, schema: str) -> None:
        super().__init__(database_url)
        self.schema = check_schema_name(schema)

    def read(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        backlog = GaugeMetricFamily(
            "datacoin_resolver_backlog",
            "Documents named on chain not fetched yet (permanent failures excluded)",
            labels=["kind"],
        )
        for kind in KINDS:
            row = conn.execute(_backlog_query(self.schema, kind), {"kind": kind.name}).fetchone()
            backlog.add_metric([kind.name], row[0] if row else 0)
        yield backlog


@dataclass
class Resolver:
    """Fills the document caches from storage."""

    database_url: str
    blobs: BlobStore
    schema: str = "readmodels"
    #: First retry of a transient failure after ~this many seconds, doubling per failure.
    retry_after: float = 30.0
    retry_cap: float = 3600.0
    batch_size: int = 200
    metrics: ResolverMetrics = field(default_factory=ResolverMetrics)

    def resolve_once(self) -> int:
        """Try every due CID (up to `batch_size` per kind) once; returns how many were
        tried (stored or recorded as failed): work done, so the loop goes on at once."""
        schema = check_schema_name(self.schema)
        tried = 0
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            for kind in KINDS:
                query = _pending_query(schema, kind)
                rows = conn.execute(query, {"kind": kind.name, "limit": self.batch_size})
                for cid, attempts in rows.fetchall():
                    self._resolve(conn, kind, Pending(cid, attempts))
                    tried += 1
        return tried

    def _resolve(self, conn: psycopg.Connection[Any], kind: DocumentKind, item: Pending) -> None:
        store = _STORES[kind.name]
        try:
            store(conn, item.cid, _fetch(self.blobs, item.cid))
        except (DatacoinError, ValueError, OSError) as exc:
            self._failed(conn, kind, item, exc)
            return
        self.metrics.stored.labels(kind.name).inc()
        if item.attempts:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE kind = %s AND cid = %s").format(
                    sql.Identifier(self.schema, "document_failures")
                ),
                (kind.name, item.cid),
            )

    def _failed(
        self, conn: psycopg.Connection[Any], kind: DocumentKind, item: Pending, exc: BaseException
    ) -> None:
        """Record a failure: once for good if permanent, else with the next try's time."""
        permanent = is_permanent(exc)
        attempts = item.attempts + 1
        delay = None if permanent else backoff_delay(attempts, self.retry_after, self.retry_cap)
        reason = f"{type(exc).__name__}: {exc}"[:500]
        conn.execute(
            sql.SQL(
                "INSERT INTO {} AS f (kind, cid, permanent, reason, attempts, first_failed_at,"
                " last_failed_at, next_attempt_at) VALUES (%(kind)s, %(cid)s, %(permanent)s,"
                " %(reason)s, 1, now(), now(), now() + make_interval(secs => %(delay)s::float8))"
                " ON CONFLICT (kind, cid) DO UPDATE SET permanent = excluded.permanent,"
                " reason = excluded.reason, attempts = f.attempts + 1,"
                " last_failed_at = excluded.last_failed_at,"
                " next_attempt_at = excluded.next_attempt_at"
            ).format(sql.Identifier(self.schema, "document_failures")),
            {
                "kind": kind.name,
                "cid": item.cid,
                "permanent": permanent,
                "reason": reason,
                "delay": delay,
            },
        )
        self.metrics.failures.labels(kind.name, str(permanent).lower()).inc()
        fields = {
            "cid": item.cid,
            "error": reason[:200],
            "permanent": permanent,
            "attempts": attempts,
            "retry_in_s": None if delay is None else round(delay),
        }
        if permanent or attempts == 1:
            log.warning(f"resolver.{kind.name}.unusable", **fields)
        else:
            log.debug(f"resolver.{kind.name}.unusable", **fields)

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Resolve until `stop` is set."""
        service_loop("resolver", self.resolve_once, stop=stop, interval=interval)


def _store_metadata(conn: psycopg.Connection[Any], cid: str, raw: bytes) -> None:
    doc = DatasetDocument.model_validate_json(raw)
    conn.execute(
        "INSERT INTO dataset_metadata (cid, title, description, tags, format, rows, columns,"
        " license, content_cid, document) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (cid) DO NOTHING",
        (
            cid,
            doc.title,
            doc.description,
            " ".join(doc.tags),
            doc.format,
            doc.rows,
            len(doc.columns),
            doc.license,
            doc.content_cid,
            Jsonb(doc.model_dump(mode="json")),
        ),
    )
    log.info("resolver.metadata.stored", cid=cid, title=doc.title)


def _store_card(conn: psycopg.Connection[Any], cid: str, raw: bytes) -> None:
    card = orjson.loads(raw)
    if not isinstance(card, dict):
        raise ValueError("a model card is a JSON object")
    conn.execute(
        "INSERT INTO model_cards (cid, document) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (cid, Jsonb(card)),
    )


def _store_profile(conn: psycopg.Connection[Any], cid: str, raw: bytes) -> None:
    doc = ProfileDocument.model_validate_json(raw)
    conn.execute(
        "INSERT INTO profile_documents (cid, display_name, avatar_cid, document)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (cid) DO NOTHING",
        (cid, doc.display_name, doc.avatar_cid, Jsonb(doc.model_dump(mode="json"))),
    )
    log.info("resolver.profile.stored", cid=cid)


#: How each kind of document is validated and cached.
_STORES: dict[str, Callable[[psycopg.Connection[Any], str, bytes], None]] = {
    METADATA: _store_metadata,
    MODEL_CARD: _store_card,
    PROFILE: _store_profile,
}
