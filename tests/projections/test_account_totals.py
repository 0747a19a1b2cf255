"""An account's totals are the counts of its rows (purchases it made, training jobs it
asked for) and of its live listing events (on chain one per dataset, the Marketplace
numbers them; this synthetic history lists some ids twice), through a reorg (restored
from undo records) and by replay."""

from __future__ import annotations

import psycopg

from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.replay import replay
from projections.statehash import state_hash

COUNTED = """
SELECT chain_id, account, sum(listed), sum(bought), sum(jobs) FROM (
    SELECT chain_id, decode(substr(args->>'provider', 3), 'hex') AS account, 1 AS listed,
        0 AS bought, 0 AS jobs
    FROM public.events e WHERE kind = 'log' AND event_name = 'DatasetListed'
    AND NOT EXISTS (SELECT 1 FROM public.events r WHERE r.retracts = e.position)
    UNION ALL SELECT chain_id, buyer, 0, 1, 0 FROM live.purchases
    UNION ALL SELECT chain_id, requester, 0, 0, 1 FROM live.training_jobs
) rows GROUP BY chain_id, account ORDER BY chain_id, account
"""
TOTALS = """
SELECT chain_id, account, datasets_listed, purchases, training_jobs FROM live.account_totals
ORDER BY chain_id, account
"""


def test_totals_equal_the_counts_of_the_accounts_rows(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    # Given the live projector through a history with a reorg of 20 blocks
    projector = Projector(fresh_db, store_with_reorg, schema="live", batch_size=9)
    projector.run_once()
    projector.close()
    # Then each account's totals count its live listings, its purchases and jobs
    with psycopg.connect(fresh_db) as conn:
        counted = [
            tuple(int(v) if isinstance(v, int) else bytes(v) for v in r)
            for r in conn.execute(COUNTED)
        ]
        totals = [
            tuple(int(v) if isinstance(v, int) else bytes(v) for v in r)
            for r in conn.execute(TOTALS)
        ]
    assert len(totals) > 5 and totals == counted
    # And a replay gives the same read models
    assert replay(fresh_db, store_with_reorg).state_hash == state_hash(fresh_db, "live")
    store_with_reorg.close()
