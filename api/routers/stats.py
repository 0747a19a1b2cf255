"""GET /stats."""

from __future__ import annotations

from fastapi import APIRouter
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import Pool, SettingsDep, table
from api.render import uint
from api.schemas import Stats

router = APIRouter(tags=["stats"])
_AMOUNTS = ("purchase_volume", "fees", "training_volume", "total_staked")


@router.get("/stats", response_model=list[Stats])
async def get_stats(pool: Pool, settings: SettingsDep) -> list[Stats]:
    """Protocol counters and volumes, one entry per indexed chain."""
    statement = sql.SQL("SELECT * FROM {} ORDER BY chain_id").format(
        table(settings, "protocol_stats_v")
    )
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement)
        rows = await cur.fetchall()
    return [Stats(**{**r, **{k: uint(r[k]) for k in _AMOUNTS}}) for r in rows]
