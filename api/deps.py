"""Dependencies: settings, the connection pool, Redis, and the signed-in address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from api.problems import Problem
from common.chains import Deployments
from common.settings import Settings

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SESSION_PREFIX = "datacoin:session:"


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a
# thread pool, and the hand-off cost more than the whole query under load.
async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_deployments(request: Request) -> Deployments:
    """The app's deployed chains (manifests cached by modification time)."""
    deployments: Deployments = request.app.state.deployments
    return deployments


async def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    """The PostgreSQL pool opened in the lifespan."""
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


async def get_redis(request: Request) -> Redis:
    """The Redis client opened in the lifespan (nonces and sessions)."""
    redis: Redis = request.app.state.redis
    return redis


def parse_address(value: str) -> bytes:
    """A 0x-hex address as 20 bytes; 400 otherwise."""
    if not ADDRESS.match(value):
        raise Problem(
            400, "address.invalid", f"not an address: {value!r} (expected 0x and 40 hex digits)"
        )
    return bytes.fromhex(value[2:])


def refuse_nul(**texts: str | None) -> None:
    """400 if a text parameter holds a NUL character: PostgreSQL text cannot store one, so
    it could never match, and binding it fails (psycopg.DataError) instead."""
    for name, value in texts.items():
        if value is not None and "\x00" in value:
            raise Problem(
                400, "text.nul_character", f"{name} must not contain NUL characters (\\x00)"
            )


@dataclass(frozen=True, slots=True)
class SignedInSession:
    """The session a request's bearer token names."""

    token: str
    address: str


async def current_session(
    redis: Annotated[Redis, Depends(get_redis)],
    authorization: Annotated[str | None, Header()] = None,
) -> SignedInSession:
    """The session of the bearer token; 401 without a valid one."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Problem(
            401,
            "auth.required",
            "sign in first: Authorization: Bearer <token from /auth/verify>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = authorization[7:].strip()
    address = await redis.get(SESSION_PREFIX + token)
    if address is None:
        raise Problem(
            401,
            "auth.session_expired",
            "session expired or unknown: sign in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    text = address.decode() if isinstance(address, bytes) else str(address)
    return SignedInSession(token=token, address=text)


async def current_address(
    session: Annotated[SignedInSession, Depends(current_session)],
) -> str:
    """The address signed in with the bearer token; 401 without a valid session."""
    return session.address


Pool = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DeploymentsDep = Annotated[Deployments, Depends(get_deployments)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SignedIn = Annotated[str, Depends(current_address)]
CurrentSession = Annotated[SignedInSession, Depends(current_session)]
