"""PostgreSQL event store: binary COPY for appends, one transaction per commit, NOTIFY after.

Rows are built by ``indexer.encode`` (hash chain and COPY bytes from one serialisation);
``append_encoded`` takes events already encoded elsewhere (fetch processes).

Appends from every writer (one indexer per chain) are serialised by a transaction-scoped
advisory lock taken before the head is read, so positions are gap-free and a reader never
sees position N+1 committed before N.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import structlog
from psycopg.types.json import Jsonb

from common.db import libpq_url
from indexer.encode import (
    COPY_HEADER,
    COPY_TRAILER,
    EncodedEvents,
    EventEncoder,
    LogKey,
    chain_logs,
    chain_rows,
    encode_events,
    entry_mid,
    tail_key,
)
from indexer.events import (
    GENESIS_HASH,
    BlockRecord,
    Checkpoint,
    DeadLetter,
    Fact,
    Head,
    NewEvent,
    StoredEvent,
)
from indexer.row import COPY_SQL, FACT_COLUMNS, STORED_COLUMNS, facts, stored_event
from indexer.store import CursorMovedError, Expected

APPEND_LOCK = 0x44415441  # "DATA": the one advisory lock every appender takes
NOTIFY_CHANNEL = "datacoin_events"
COPY_CHUNK = 2_000  # entries hashed per COPY write (the server ingests one while we hash)
BULK_READ = 10_000  # a range read this wide first checks the planner's statistics
log = structlog.get_logger(__name__)


def _fetch_events(cur: psycopg.Cursor[Any], query: str, params: Sequence[Any]) -> list[StoredEvent]:
    """Run a SELECT of STORED_COLUMNS and build its entries."""
    cur.execute(query, params, binary=True)
    return [stored_event(r) for r in cur.fetchall()]


def _fetch_facts(cur: psycopg.Cursor[Any], query: str, params: Sequence[Any]) -> list[Fact]:
    """Run a SELECT of FACT_COLUMNS and build its facts."""
    cur.execute(query, params, binary=True)
    return facts(cur.fetchall())


def refresh_statistics(cur: psycopg.Cursor[Any], head: int) -> bool:
    """ANALYZE the event store when the planner's row count lags far behind its head
    (positions are gap-free: the head is the row count); True if it did.

    Right after a bulk append (a backfill, before autovacuum runs) the planner thinks the
    table is small; it then plans a filtered range read as a bitmap scan and an on-disk
    sort: 330 ms per 20k-entry read instead of 22 ms for the index scan (100k entries).
    """
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
    row = cur.fetchone()
    if row is None or row[0] >= 0.8 * head:
        return False
    cur.execute("ANALYZE events")
    log.info("store.analyzed", head=head, planner_rows=int(row[0]))
    return True


class PostgresEventStore:
    """The event store in PostgreSQL (schema from migrations/versions/0001)."""

    def __init__(self, database_url: str) -> None:
        self._dsn = libpq_url(database_url)
        self._conn: psycopg.Connection[Any] | None = None
        self._has_retractions: dict[int, bool] = {}
        self._planned_for = 0  # the head position the planner's statistics were checked at

    # -- connection -------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, or a new one in place of a closed or broken one."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = psycopg.connect(self._dsn)
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in a transaction. A lost connection (a terminated backend, a server
        restart) raises psycopg.OperationalError and is replaced on next use: the caller
        decides whether to try again (``indexer.runner`` does, from the stored cursor: a
        COMMIT whose answer was lost may or may not have happened)."""
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError:
            conn.close()  # reconnect on next use; the transaction rolled back
            raise

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()

    # -- writes -----------------------------------------------------------------------
    def _lock_and_check(
        self, cur: psycopg.Cursor[Any], chain_id: int, expected: Expected
    ) -> tuple[Head, int | None]:
        """Take the append lock, check the cursor; (head, the chain's stored finalized
        number or None before its first commit)."""
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        # Read under the lock (a statement of its own: its snapshot postdates the lock).
        cur.execute(
            "SELECT c.block_number, c.block_hash, c.finalized_number, e.position, e.hash"
            " FROM (SELECT 1) one"
            " LEFT JOIN cursors c ON c.chain_id = %s"
            " LEFT JOIN (SELECT position, hash FROM events ORDER BY position DESC LIMIT 1) e"
            " ON true",
            (chain_id,),
        )
        row = cur.fetchone()
        assert row is not None
        number, block_hash, finalized, position, hash_ = row
        seen = (number, bytes(block_hash)) if block_hash is not None else None
        if seen != expected:
            raise CursorMovedError(
                f"chain {chain_id}: cursor is {seen}, writer expected {expected}"
            )
        head = Head(position, bytes(hash_)) if position is not None else Head(0, GENESIS_HASH)
        return head, finalized

    def _incarnations(self, cur: psycopg.Cursor[Any], events: EncodedEvents) -> list[int] | None:
        """Incarnation of each event (None: all 0). Only a chain with retractions can append
        a (block, log) again, so the lookup runs only after one."""
        chain_id = events.chain_id
        if not self._has_retractions.get(chain_id, True) or not events:
            return None
        # `retracts IS NOT NULL` (the retractions: a CHECK ties it to kind = 'retract') is
        # the predicate of the partial index ix_events_retracts, so this is an index probe.
        # Written as `kind = 'retract'` it walked the unique index of every entry of the
        # chain (178 ms at 1M entries), before each append once the chain had a reorg.
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM events WHERE retracts IS NOT NULL AND chain_id = %s)",
            (chain_id,),
        )
        row = cur.fetchone()
        self._has_retractions[chain_id] = bool(row and row[0])
        if not self._has_retractions[chain_id]:
            return None
        keys = [tail_key(t) for t in events.tails]
        # Led by the block numbers: ranges of the natural key's index (its block-number
        # prefix), which the block hashes alone no longer lead.
        cur.execute(
            "SELECT block_number, block_hash, log_index, max(incarnation) + 1 FROM events"
            " WHERE chain_id = %s AND block_number = ANY(%s) AND block_hash = ANY(%s)"
            " AND kind = 'log' GROUP BY block_number, block_hash, log_index",
            (
                chain_id,
                sorted({k.block_number for k in keys}),
                list({k.block_hash for k in keys}),
            ),
        )
        nexts = {
            LogKey(block_number=number, block_hash=bytes(block_hash), log_index=index): next_
            for number, block_hash, index, next_ in cur.fetchall()
        }
        return [nexts.get(k, 0) for k in keys] if nexts else None

    def _copy_logs(
        self,
        cur: psycopg.Cursor[Any],
        head: Head,
        events: EncodedEvents,
        incarnations: list[int] | None,
    ) -> Head:
        """COPY log entries after `head`, hashing a chunk while the server ingests the
        previous one."""
        rests, tails, n = events.rests, events.tails, len(events)
        with cur.copy(COPY_SQL) as copy:
            rows: list[bytes] = [COPY_HEADER]
            for i in range(0, n, COPY_CHUNK):
                part = EncodedEvents(
                    events.chain_id, rests[i : i + COPY_CHUNK], tails[i : i + COPY_CHUNK]
                )
                inc = incarnations[i : i + COPY_CHUNK] if incarnations else None
                head = chain_logs(head, part, inc, rows)
                if i + COPY_CHUNK >= n:
                    rows.append(COPY_TRAILER)
                copy.write(b"".join(rows))
                rows.clear()
        return head

    def _copy_entries(
        self,
        cur: psycopg.Cursor[Any],
        head: Head,
        entries: Sequence[tuple[int, int | None, NewEvent]],
    ) -> Head:
        """COPY any entries ((incarnation, retracted position or None, event)) after `head`."""
        encoders: dict[int, EventEncoder] = {}
        encoded = []
        for incarnation, retracts, e in entries:
            if e.chain_id not in encoders:
                encoders[e.chain_id] = EventEncoder(e.chain_id)
            rest, tail = encoders[e.chain_id].encode(e, retracts)
            mid, row_mid = entry_mid(e.chain_id, incarnation, retracts)
            encoded.append((mid, rest, row_mid, tail))
        rows: list[bytes] = [COPY_HEADER]
        head = chain_rows(head, encoded, rows)
        rows.append(COPY_TRAILER)
        with cur.copy(COPY_SQL) as copy:
            copy.write(b"".join(rows))
        return head

    def _save_checkpoint(
        self, cur: psycopg.Cursor[Any], cp: Checkpoint, head: Head, previous_final: int | None
    ) -> None:
        cur.execute(
            "INSERT INTO cursors (chain_id, block_number, block_hash, finalized_number)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (chain_id) DO UPDATE SET"
            " block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,"
            " finalized_number = EXCLUDED.finalized_number, updated_at = now()",
            (cp.chain_id, cp.block_number, cp.block_hash, cp.finalized_number),
        )
        if cp.blocks:
            cur.execute(
                "INSERT INTO indexed_blocks (chain_id, number, hash, parent_hash, timestamp,"
                " finalized) SELECT %s, b.* FROM unnest(%s::int8[], %s::bytea[], %s::bytea[],"
                " %s::int8[], %s::bool[]) AS b ON CONFLICT (chain_id, number)"
                " DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,"
                " timestamp = EXCLUDED.timestamp, finalized = EXCLUDED.finalized",
                (
                    cp.chain_id,
                    [b.number for b in cp.blocks],
                    [b.hash for b in cp.blocks],
                    [b.parent_hash for b in cp.blocks],
                    [b.timestamp for b in cp.blocks],
                    [b.number <= cp.finalized_number for b in cp.blocks],
                ),
            )
        # Invariant: after every commit, each recorded block at or below the stored
        # finalized number is marked final (inserts above set it, this update keeps it).
        # So only blocks above the previous finalized number can still need the update:
        # bounding it keeps a commit's cost independent of how many blocks are recorded.
        cur.execute(
            "UPDATE indexed_blocks SET finalized = true"
            " WHERE chain_id = %s AND number <= %s AND number > %s AND NOT finalized",
            (cp.chain_id, cp.finalized_number, -1 if previous_final is None else previous_final),
        )
        cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(head.position)))

    def _dead_letters(self, cur: psycopg.Cursor[Any], dead_letters: Sequence[DeadLetter]) -> None:
        if dead_letters:
            cur.executemany(
                "INSERT INTO dead_letters (chain_id, block_hash, log_index, block_number,"
                " tx_hash, address, topics, data, reason) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [
                    (
                        d.chain_id,
                        d.block_hash,
                        d.log_index,
                        d.block_number,
                        d.tx_hash,
                        d.address,
                        Jsonb(list(d.topics)),
                        d.data,
                        d.reason,
                    )
                    for d in dead_letters
                ],
            )

    def append(
        self,
        events: Sequence[NewEvent],
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        """Append `events`, record `dead_letters` and move the checkpoint, atomically."""
        if any(e.chain_id != checkpoint.chain_id for e in events):
            raise ValueError("every appended event must be of the checkpoint's chain")
        encoded = encode_events(checkpoint.chain_id, events)
        return self.append_encoded(encoded, checkpoint, expected, dead_letters)

    def append_encoded(
        self,
        events: EncodedEvents,
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        """``append`` for events already encoded (``indexer.encode.encode_events``, or
        fetch processes): the same rows and hashes, with less work under the lock."""
        if events and events.chain_id != checkpoint.chain_id:
            raise ValueError("every appended event must be of the checkpoint's chain")
        with self._transaction() as cur:
            self._dead_letters(cur, dead_letters)
            head, previous_final = self._lock_and_check(cur, checkpoint.chain_id, expected)
            if events:
                incarnations = self._incarnations(cur, events)
                head = self._copy_logs(cur, head, events, incarnations)
            self._save_checkpoint(cur, checkpoint, head, previous_final)
        return head

    def retract(
        self, chain_id: int, after_block: int, checkpoint: Checkpoint, expected: Expected
    ) -> list[StoredEvent]:
        """Append a retraction of every live event above `after_block`; rewind the cursor."""
        with self._transaction() as cur:
            head, previous_final = self._lock_and_check(cur, chain_id, expected)
            targets = _fetch_events(
                cur,
                f"SELECT {STORED_COLUMNS} FROM events e WHERE chain_id = %s AND kind = 'log'"
                " AND block_number > %s AND NOT EXISTS (SELECT 1 FROM events r"
                " WHERE r.kind = 'retract' AND r.retracts = e.position)"
                " ORDER BY position DESC",
                (chain_id, after_block),
            )
            entries = [(t.incarnation, t.position, t.event) for t in targets]
            start = head.position
            if entries:
                head = self._copy_entries(cur, head, entries)
            cur.execute(
                "DELETE FROM indexed_blocks WHERE chain_id = %s AND number > %s",
                (chain_id, after_block),
            )
            self._save_checkpoint(cur, checkpoint, head, previous_final)
            out = _fetch_events(
                cur,
                f"SELECT {STORED_COLUMNS} FROM events WHERE position > %s ORDER BY position",
                (start,),
            )
        self._has_retractions[chain_id] = True
        return out

    # -- reads ------------------------------------------------------------------------
    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Entries with position > `position`, in order, at most `limit`."""
        with self._transaction() as cur:
            return _fetch_events(
                cur,
                f"SELECT {STORED_COLUMNS} FROM events WHERE position > %s"
                " ORDER BY position LIMIT %s",
                (position, limit),
            )

    def read_range(
        self, after: int, upto: int, limit: int, names: frozenset[str] | None = None
    ) -> list[Fact]:
        """Entries with `after` < position <= `upto`, in order, at most `limit`; only those
        named in `names` when given (a retraction carries its event's name)."""
        if upto - after >= BULK_READ and upto > self._planned_for * 1.2:
            self._fresh_statistics(upto)
        if names is None:
            query = f"SELECT {FACT_COLUMNS} FROM events WHERE position > %s AND position <= %s"
            params: tuple[Any, ...] = (after, upto, limit)
        else:
            query = (
                f"SELECT {FACT_COLUMNS} FROM events WHERE position > %s AND position <= %s"
                " AND event_name = ANY(%s)"
            )
            params = (after, upto, sorted(names), limit)
        with self._transaction() as cur:
            return _fetch_facts(cur, query + " ORDER BY position LIMIT %s", params)

    def retracted_between(self, after: int, upto: int) -> frozenset[int]:
        """Positions in (`after`, `upto`] already retracted: a range scan of the partial
        index on ``retracts`` (retractions only), however long the history."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT retracts FROM events WHERE retracts > %s AND retracts <= %s",
                (after, upto),
            )
            return frozenset(r[0] for r in cur.fetchall())

    def _fresh_statistics(self, head: int) -> None:
        with self._transaction() as cur:
            refresh_statistics(cur, head)
        self._planned_for = head

    def head(self) -> Head:
        """The last entry's position and hash."""
        with self._transaction() as cur:
            cur.execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
            row = cur.fetchone()
        return Head(row[0], bytes(row[1])) if row else Head(0, GENESIS_HASH)

    def checkpoint(self, chain_id: int) -> Checkpoint | None:
        """The chain's cursor (without blocks), or None before its first commit."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT block_number, block_hash, finalized_number FROM cursors"
                " WHERE chain_id = %s",
                (chain_id,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        number, block_hash, finalized = row
        return Checkpoint(
            chain_id=chain_id,
            block_number=number,
            block_hash=bytes(block_hash),
            finalized_number=finalized,
        )

    def read_dead_letters(self, chain_id: int) -> list[DeadLetter]:
        """Every dead letter recorded for `chain_id`, in (block number, log index) order."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT block_number, block_hash, log_index, tx_hash, address, topics::text,"
                " data, reason FROM dead_letters WHERE chain_id = %s"
                " ORDER BY block_number, log_index",
                (chain_id,),
            )
            return [
                DeadLetter(
                    chain_id=chain_id,
                    block_number=number,
                    block_hash=bytes(block_hash),
                    log_index=index,
                    tx_hash=bytes(tx),
                    address=bytes(address),
                    topics=tuple(orjson.loads(topics)),
                    data=data,
                    reason=reason,
                )
                for number, block_hash, index, tx, address, topics, data, reason in cur.fetchall()
            ]

    def recorded_blocks(self, chain_id: int, numbers_from: int) -> list[BlockRecord]:
        """Recorded canonical blocks with number >= `numbers_from`, ascending."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT number, hash, parent_hash, timestamp FROM indexed_blocks"
                " WHERE chain_id = %s AND number >= %s ORDER BY number",
                (chain_id, numbers_from),
            )
            return [BlockRecord(n, bytes(h), bytes(p), t) for n, h, p, t in cur.fetchall()]

    def find_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> list[Fact]:
        """Log entries before `before`, not retracted by then, named in `names`, whose
        args contain one of `matching`."""
        return self._live(chain_id, names, matching, before, "ORDER BY position")

    def last_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> Fact | None:
        """The newest of ``find_live``'s entries: a backward walk of the primary key."""
        found = self._live(chain_id, names, matching, before, "ORDER BY position DESC LIMIT 1")
        return found[0] if found else None

    def _live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
        order: str,
    ) -> list[Fact]:
        if not names or not matching:
            return []
        with self._transaction() as cur:
            return _fetch_facts(
                cur,
                f"SELECT {FACT_COLUMNS} FROM events e WHERE chain_id = %s AND kind = 'log'"
                " AND position < %s AND event_name = ANY(%s) AND args @> ANY(%s::jsonb[])"
                " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.kind = 'retract'"
                f" AND r.retracts = e.position AND r.position <= %s) {order}",
                (chain_id, before, sorted(names), [Jsonb(m) for m in matching], before),
            )
