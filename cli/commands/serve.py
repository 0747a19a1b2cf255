"""`datacoin serve`: the API under uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from common.settings import Settings
from migrations.runner import upgrade


def run_serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (settings injected into the app; engines open in its lifespan)."""
    upgrade(settings.database_url)
    if workers > 1:
        # Several processes: each builds its own app (factory) from the same environment.
        uvicorn.run("api.app:create_app", host=host or settings.api_host,
                    port=port or settings.api_port, workers=workers, log_level="warning",
                    factory=True)  # fmt: skip
        return
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_level="warning")  # fmt: skip
