"""The FastAPI application factory. Settings are injected; engines open in the lifespan."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.graphql.schema import graphql_router
from api.routers import (
    accounts,
    audit,
    auth,
    bridge,
    datasets,
    deployment,
    downloads,
    governance,
    health,
    models,
    previews,
    profiles,
    stats,
    stream,
    training,
    training_specs,
    uploads,
)
from api.stream import EventHub
from common.chains import Deployments
from common.db import libpq_url
from common.settings import Settings
from storage.open import open_blobs, open_keyring


class ApiMetrics:
    """Request counts and latencies (own registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "datacoin_api_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        buckets = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
        self.latency = Histogram(
            "datacoin_api_request_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=buckets,
        )


class MetricsMiddleware:
    """Counts and times requests (a plain ASGI middleware: BaseHTTPMiddleware costs ~10% of
    a request's CPU)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


log = structlog.get_logger(__name__)
#: Seconds to connect to Redis, and to wait for one reply. Its commands here (nonces,
#: sessions) answer in well under a millisecond: waiting longer only holds a request
#: that will fail anyway.
REDIS_TIMEOUT_S = 0.5
#: Seconds a client should wait before trying again when a dependency is down.
RETRY_AFTER_S = 5


def open_redis(url: str) -> Redis:
    """A Redis client that fails fast: short timeouts and one immediate retry (a dropped
    connection is re-opened once), so a dead Redis is a quick 503, not a 5 s hang."""
    return Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), retries=1),
    )


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A Redis that cannot be reached is a dependency outage: 503 with the reason."""
    log.warning("api.redis.unavailable", path=request.url.path, error=str(exc)[:200])
    return problems.problem_response(
        503,
        "redis.unavailable",
        "service unavailable: redis (sign-in and sessions) does not answer",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


#: The dApp's static export (`next build` in web/, run by `make install`).
WEB_OUT = Path(__file__).resolve().parent.parent / "web" / "out"


class DappFiles(StaticFiles):
    """The dApp's pages. A path that is no page is a 404: the export's own 404 page for a
    browser (Accept: text/html), a problem+json for everyone else (API clients keep
    getting the errors they parse)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)  # 404.html when no page matches
        if response.status_code == 404:
            accept = dict(scope.get("headers") or []).get(b"accept", b"")
            if b"text/html" not in accept:
                raise StarletteHTTPException(404)
        return response


def mount_dapp(app: FastAPI, directory: Path | None) -> None:
    """Serve the dApp at `/`, mounted last so every API route wins; the API starts
    without it (a log line says how to build it)."""
    if directory is None:
        return
    if not (directory / "index.html").is_file():
        log.warning(
            "api.dapp.missing",
            directory=str(directory),
            hint="run `make install` (builds web/) to serve the dApp at /",
        )
        return
    app.mount("/", DappFiles(directory=directory, html=True), name="dapp")


def operation_id(route: APIRoute) -> str:
    """A stable OpenAPI operation id, ``<tag>_<name>`` (`datasets_list`, `auth_nonce`):
    generated clients name their functions after it, so it must not follow the path."""
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None, dapp_dir: Path | None = WEB_OUT) -> FastAPI:
    """Build the API (and the dApp's pages from `dapp_dir`, None: none). Nothing connects
    until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool = AsyncConnectionPool(
            libpq_url(settings.database_url),
            min_size=2,
            max_size=settings.api_pool_size,
            # No parallel plans for the API's queries: a page walks an index a few
            # thousand rows at most, and under concurrent requests parallel workers only
            # take cores from the other requests (measured: GET /datasets searches at
            # 1M datasets chose parallel index walks, and 500 req/s of bench.api_scale
            # achieved 135 req/s with them, 0 errors and ~380 req/s without).
            kwargs={"autocommit": True, "options": "-c max_parallel_workers_per_gather=0"},
            open=False,
        )
        await pool.open(wait=True, timeout=30)
        redis = open_redis(settings.redis_url)
        hub = EventHub(settings.database_url, pool)
        await hub.start()
        app.state.pool, app.state.redis, app.state.hub = pool, redis, hub
        app.state.blobs = open_blobs(settings)
        app.state.keyring = open_keyring(settings)
        # What exists now (imports, ABIs, schemas, the pool) lives as long as the app: take it
        # out of the cycle collector's sight. Full collections are rare in steady state, but
        # each one walked these ~200k objects (60-110 ms) and stalled every request in
        # flight; after the freeze one takes well under a millisecond.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # an app built again in this process (tests) starts from scratch
            await hub.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="Datacoin API",
        version="0.1.0",
        description="Read-only views of the Datacoin marketplace, derived from chain events.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.deployments = Deployments(settings)
    app.state.metrics = ApiMetrics()

    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:  # none by default: browsers then refuse other origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    problems.install(app)
    # TimeoutError and ConnectionError are the failures of reaching Redis (not of a command)
    for error in (RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(error, redis_unavailable)
    for router in (
        datasets.router,
        downloads.router,
        previews.router,
        uploads.router,
        accounts.router,
        profiles.router,
        training.router,
        governance.router,
        bridge.router,
        training_specs.router,
        models.router,
        stats.router,
        audit.router,
        stream.router,
        auth.router,
        health.router,
        deployment.router,
    ):
        app.include_router(router)
    app.include_router(graphql_router())
    mount_dapp(app, dapp_dir)  # last: a page never shadows an API route
    return app
