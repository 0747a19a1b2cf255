"""GET /health and GET /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Pool, RedisDep, SettingsDep
from api.schemas import Health
from projections.tracking import tracking_position

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(pool: Pool, redis: RedisDep, settings: SettingsDep, response: Response) -> Health:
    """Whether PostgreSQL and Redis answer, and how far each chain is indexed."""
    database, chains, position = True, [], None
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT chain_id, block_number, finalized_number FROM cursors ORDER BY chain_id"
            )
            chains = [
                {"chain_id": c, "block": b, "finalized": f} for c, b, f in await cur.fetchall()
            ]
        position = await asyncio.to_thread(
            tracking_position, settings.database_url, settings.read_schema
        )
    except Exception:  # any failure means "not healthy", reported below
        database = False
    try:
        redis_ok = bool(await redis.ping())
    except Exception:
        redis_ok = False
    ok = database and redis_ok
    response.status_code = 200 if ok else 503
    return Health(
        status="ok" if ok else "degraded",
        database=database,
        redis=redis_ok,
        chains=chains,
        read_model_position=position,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this API process."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
