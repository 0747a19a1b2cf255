"""A live projector that starts from an empty schema far behind the store rebuilds it by
replay and swaps it in: the same read models as folding live, then it goes on live (a
reorg included, restored from the undo records the replay kept)."""

from __future__ import annotations

import psycopg
import pytest

from bench.scale_store import GrowingStore
from indexer.events import Fact
from indexer.store_pg import PostgresEventStore
from projections import replay as replay_module
from projections.projector import Projector
from projections.statehash import state_hash


def test_an_empty_schema_far_behind_is_rebuilt_by_replay_and_goes_on_live(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store of 6,000 events with a reorg among them, and a projector on an empty
    # schema that rebuilds from 1,000 entries behind
    grower = GrowingStore(PostgresEventStore(fresh_db))
    grower.grow_to(3_000)
    grower.reorg(3)
    grower.grow_to(6_000)
    replays: list[str | None] = []
    real_replay = replay_module.replay

    def counted(*args: object, **kwargs: object) -> replay_module.ReplayResult:
        replays.append(kwargs.get("schema"))  # type: ignore[arg-type]
        return real_replay(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(replay_module, "replay", counted)
    live = Projector(fresh_db, grower.store, schema="live", rebuild_from=1_000)
    # When it runs
    assert live.run_once() == grower.store.head().position
    # Then it replayed into a staging schema, now in its place (the staging name is gone)
    assert replays == ["live_rebuild"]
    with psycopg.connect(fresh_db) as conn:
        names = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    assert "live" in names and "live_rebuild" not in names
    # And its read models are those of a projector folding live from empty
    folded = Projector(fresh_db, grower.store, schema="folded", rebuild_from=None)
    folded.run_once()
    folded.close()
    assert state_hash(fresh_db, "live") == state_hash(fresh_db, "folded")
    # When the chain goes on and reorganises, the rebuilt projector folding live
    reads: list[int] = []
    find_live = grower.store.find_live

    def history_read(
        chain_id: int, names_: frozenset[str], matching: list[dict[str, str]], before: int
    ) -> list[Fact]:
        reads.append(before)
        return find_live(chain_id, names_, matching, before)

    monkeypatch.setattr(grower.store, "find_live", history_read)
    grower.grow_to(6_500)
    live.run_once()
    grower.reorg(3)
    live.run_once()
    live.close()
    # Then no rebuild happened again, the reorg read no history (the replay kept the
    # undo records of the blocks not final) and the read models are a replay's
    assert replays == ["live_rebuild"]
    assert reads == []
    assert real_replay(fresh_db, grower.store).state_hash == state_hash(fresh_db, "live")
    grower.store.close()
