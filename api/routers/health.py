"""GET /health and GET /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

from api.deps import Pool, RedisDep, SettingsDep
from api.queries import CompiledQuery
from api.schemas import Health
from indexer.schema import Cursor
from projections.tracking import tracking_position

router = APIRouter(tags=["health"])
_CURSORS = Cursor.__table__
_CHAINS = CompiledQuery(
    select(_CURSORS.c.chain_id, _CURSORS.c.block_number, _CURSORS.c.finalized_number).order_by(
        _CURSORS.c.chain_id
    )
)


@router.get("/health", name="check", response_model=Health, responses={503: {"model": Health}})
async def health(pool: Pool, redis: RedisDep, settings: SettingsDep, response: Response) -> Health:
    """Whether PostgreSQL and Redis answer, and how far each chain is indexed."""
    database, chains, position = True, [], None
    try:
        rows = await _CHAINS.all(pool, settings.read_schema)
        chains = [
            {
                "chain_id": r["chain_id"],
                "block": r["block_number"],
                "finalized": r["finalized_number"],
            }
            for r in rows
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
