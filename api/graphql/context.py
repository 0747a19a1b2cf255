"""What every resolver reads: the pool, the settings and the event hub of the app."""

from __future__ import annotations

from typing import Any, TypeAlias

import strawberry
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from api.stream import EventHub
from common.chains import Deployments
from common.settings import Settings


class Context(BaseContext):
    """The app's shared state, for queries (HTTP) and subscriptions (WebSocket) alike."""

    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[Any],
        settings: Settings,
        deployments: Deployments,
        hub: EventHub,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.settings = settings
        self.deployments = deployments
        self.hub = hub


async def get_context(connection: HTTPConnection) -> Context:
    """The context of one operation (a FastAPI dependency: HTTP request or WebSocket)."""
    state = connection.app.state
    return Context(
        pool=state.pool, settings=state.settings, deployments=state.deployments, hub=state.hub
    )


Info: TypeAlias = strawberry.Info[Context, None]
