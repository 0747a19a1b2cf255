"""PostgreSQL event store: COPY for appends, one transaction per commit, NOTIFY after.

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
from psycopg.types.json import Jsonb, set_json_loads

from common.db import libpq_url
from indexer.events import (
    GENESIS_HASH,
    KIND_LOG,
    KIND_RETRACT,
    BlockRecord,
    Checkpoint,
    DeadLetter,
    Head,
    NewEvent,
    StoredEvent,
    canonical_encoding,
    chain_hash,
)
from indexer.store import CursorMovedError, Expected

APPEND_LOCK = 0x44415441  # "DATA": the one advisory lock every appender takes
NOTIFY_CHANNEL = "datacoin_events"
COLUMNS = (
    "position, kind, incarnation, retracts, hash, chain_id, block_number, block_hash,"
    " parent_hash, block_timestamp, tx_hash, tx_index, log_index, address, event_name, args"
)
COPY_TYPES = [
    "int8", "text", "int2", "int8", "bytea", "int8", "int8", "bytea",
    "bytea", "int8", "bytea", "int4", "int4", "bytea", "text", "jsonb",
]  # fmt: skip


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _row_to_event(row: tuple[Any, ...]) -> StoredEvent:
    (position, kind, incarnation, retracts, hash_, chain_id, number, block_hash, parent,
     ts, tx_hash, tx_index, log_index, address, name, args) = row  # fmt: skip
    event = NewEvent(
        chain_id, number, bytes(block_hash), bytes(parent), ts, bytes(tx_hash), tx_index,
        log_index, bytes(address), name, args,
    )  # fmt: skip
    return StoredEvent(position, kind, incarnation, retracts, bytes(hash_), event)


class PostgresEventStore:
    """The event store in PostgreSQL (schema from migrations/versions/0001)."""

    def __init__(self, database_url: str) -> None:
        self._dsn = libpq_url(database_url)
        self._conn: psycopg.Connection[Any] | None = None
        self._has_retractions: dict[int, bool] = {}

    # -- connection -------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn)
            set_json_loads(orjson.loads, self._conn)  # ~4x faster than json.loads
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
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
    def _lock_and_check(self, cur: psycopg.Cursor[Any], chain_id: int, expected: Expected) -> Head:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        cur.execute("SELECT block_number, block_hash FROM cursors WHERE chain_id = %s", (chain_id,))
        row = cur.fetchone()
        seen = (row[0], bytes(row[1])) if row else None
        if seen != expected:
            raise CursorMovedError(
                f"chain {chain_id}: cursor is {seen}, writer expected {expected}"
            )
        cur.execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
        last = cur.fetchone()
        return Head(last[0], bytes(last[1])) if last else Head(0, GENESIS_HASH)

    def _incarnations(
        self, cur: psycopg.Cursor[Any], chain_id: int, events: Sequence[NewEvent]
    ) -> dict[tuple[bytes, int], int]:
        """Next incarnation per (block hash, log index), needed only after a retraction."""
        if not self._has_retractions.get(chain_id, True) or not events:
            return {}
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM events WHERE chain_id = %s AND kind = 'retract')",
            (chain_id,),
        )
        row = cur.fetchone()
        self._has_retractions[chain_id] = bool(row and row[0])
        if not self._has_retractions[chain_id]:
            return {}
        cur.execute(
            "SELECT block_hash, log_index, max(incarnation) + 1 FROM events"
            " WHERE chain_id = %s AND kind = 'log' AND block_hash = ANY(%s)"
            " GROUP BY block_hash, log_index",
            (chain_id, list({e.block_hash for e in events})),
        )
        return {(bytes(h), i): n for h, i, n in cur.fetchall()}

    def _copy(
        self,
        cur: psycopg.Cursor[Any],
        head: Head,
        entries: Sequence[tuple[str, int, int | None, NewEvent]],
    ) -> Head:
        position, previous = head.position, head.hash
        with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(COPY_TYPES)
            for kind, incarnation, retracts, e in entries:
                position += 1
                previous = chain_hash(
                    previous, canonical_encoding(position, kind, incarnation, retracts, e)
                )
                copy.write_row((
                    position, kind, incarnation, retracts, previous, e.chain_id,
                    e.block_number, e.block_hash, e.parent_hash, e.block_timestamp,
                    e.tx_hash, e.tx_index, e.log_index, e.address, e.event_name,
                    Jsonb(e.args, dumps=_dumps),
                ))  # fmt: skip
        return Head(position, previous)

    def _save_checkpoint(self, cur: psycopg.Cursor[Any], cp: Checkpoint, head: Head) -> None:
        cur.execute(
            "INSERT INTO cursors (chain_id, block_number, block_hash, finalized_number)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (chain_id) DO UPDATE SET"
            " block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,"
            " finalized_number = EXCLUDED.finalized_number, updated_at = now()",
            (cp.chain_id, cp.block_number, cp.block_hash, cp.finalized_number),
        )
        if cp.blocks:
            cur.executemany(
                "INSERT INTO indexed_blocks (chain_id, number, hash, parent_hash, timestamp,"
                " finalized) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (chain_id, number)"
                " DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,"
                " timestamp = EXCLUDED.timestamp, finalized = EXCLUDED.finalized",
                [
                    (cp.chain_id, b.number, b.hash, b.parent_hash, b.timestamp,
                     b.number <= cp.finalized_number)
                    for b in cp.blocks
                ],
            )  # fmt: skip
        cur.execute(
            "UPDATE indexed_blocks SET finalized = true"
            " WHERE chain_id = %s AND number <= %s AND NOT finalized",
            (cp.chain_id, cp.finalized_number),
        )
        cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(head.position)))

    def append(
        self,
        events: Sequence[NewEvent],
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        """Append `events`, record `dead_letters` and move the checkpoint, atomically."""
        with self._transaction() as cur:
            if dead_letters:
                cur.executemany(
                    "INSERT INTO dead_letters (chain_id, block_hash, log_index, block_number,"
                    " tx_hash, address, topics, data, reason) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [
                        (d.chain_id, d.block_hash, d.log_index, d.block_number, d.tx_hash,
                         d.address, Jsonb(list(d.topics)), d.data, d.reason)
                        for d in dead_letters
                    ],
                )  # fmt: skip
            head = self._lock_and_check(cur, checkpoint.chain_id, expected)
            nexts = self._incarnations(cur, checkpoint.chain_id, events)
            entries = [
                (KIND_LOG, nexts.get((e.block_hash, e.log_index), 0), None, e) for e in events
            ]
            if entries:
                head = self._copy(cur, head, entries)
            self._save_checkpoint(cur, checkpoint, head)
        return head

    def retract(
        self, chain_id: int, after_block: int, checkpoint: Checkpoint, expected: Expected
    ) -> list[StoredEvent]:
        """Append a retraction of every live event above `after_block`; rewind the cursor."""
        with self._transaction() as cur:
            head = self._lock_and_check(cur, chain_id, expected)
            cur.execute(
                f"SELECT {COLUMNS} FROM events e WHERE chain_id = %s AND kind = 'log'"
                " AND block_number > %s AND NOT EXISTS (SELECT 1 FROM events r"
                " WHERE r.kind = 'retract' AND r.retracts = e.position)"
                " ORDER BY position DESC",
                (chain_id, after_block),
            )
            targets = [_row_to_event(r) for r in cur.fetchall()]
            entries = [(KIND_RETRACT, t.incarnation, t.position, t.event) for t in targets]
            start = head.position
            if entries:
                head = self._copy(cur, head, entries)
            cur.execute(
                "DELETE FROM indexed_blocks WHERE chain_id = %s AND number > %s",
                (chain_id, after_block),
            )
            self._save_checkpoint(cur, checkpoint, head)
            cur.execute(
                f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position", (start,)
            )
            out = [_row_to_event(r) for r in cur.fetchall()]
        self._has_retractions[chain_id] = True
        return out

    # -- reads ------------------------------------------------------------------------
    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Entries with position > `position`, in order, at most `limit`."""
        with self._transaction() as cur:
            cur.execute(
                f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
                (position, limit),
            )
            return [_row_to_event(r) for r in cur.fetchall()]

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
        return Checkpoint(chain_id, row[0], bytes(row[1]), row[2]) if row else None

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
        self, chain_id: int, names: frozenset[str], args: dict[str, str], before: int
    ) -> list[StoredEvent]:
        """Log entries before `before`, not retracted by then, matching `names` and `args`."""
        if not names:
            return []
        with self._transaction() as cur:
            cur.execute(
                f"SELECT {COLUMNS} FROM events e WHERE chain_id = %s AND kind = 'log'"
                " AND position < %s AND event_name = ANY(%s) AND args @> %s"
                " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.kind = 'retract'"
                " AND r.retracts = e.position AND r.position <= %s) ORDER BY position",
                (chain_id, before, sorted(names), Jsonb(args), before),
            )
            return [_row_to_event(r) for r in cur.fetchall()]
