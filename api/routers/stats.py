"""GET /stats."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import Pool, SettingsDep
from api.queries import CompiledQuery, view
from api.render import uint
from api.schemas import Stats
from projections.stats import StatsRow

router = APIRouter(tags=["stats"])
_STATS = view(StatsRow.__table__)  # type: ignore[arg-type]
_ALL = CompiledQuery(select(_STATS).order_by(_STATS.c.chain_id))
_AMOUNTS = ("purchase_volume", "fees", "training_volume", "total_staked")


@router.get("/stats", name="get", response_model=list[Stats])
async def get_stats(pool: Pool, settings: SettingsDep) -> list[Stats]:
    """Protocol counters and volumes, one entry per indexed chain."""
    return await read_stats(pool, settings)


async def read_stats(pool: Pool, settings: SettingsDep) -> list[Stats]:
    """Each indexed chain's protocol counters, by chain id."""
    rows = await _ALL.all(pool, settings.read_schema)
    return [Stats(**{**r, **{k: uint(r[k]) for k in _AMOUNTS}}) for r in rows]
