"""The compose file: structure, settings names and commands that exist; `docker compose
config` validates it where the docker client has the compose plugin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from cli.main import app
from common.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "ops" / "compose.yaml"
PLATFORM = ("indexer", "projector", "api", "worker", "deploy")


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_every_service_is_there_with_health_checks_and_restarts() -> None:
    services = load()["services"]
    assert set(services) >= {"postgres", "redis", "ipfs", "chain", *PLATFORM}
    for name in ("postgres", "redis", "ipfs", "chain", "api"):
        assert "healthcheck" in services[name], name
    for name in ("indexer", "projector", "api", "worker"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["image"] == "datacoin:latest", name


def test_commands_and_settings_exist() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    fields = {f"DATACOIN_{name.upper()}" for name in Settings.model_fields}
    for name in PLATFORM:
        service = load()["services"][name]
        assert service["command"][0] in commands, name
        unknown = set(service["environment"]) - fields - {"DATACOIN_SANDBOX"}
        assert not unknown, (name, unknown)


def compose_available() -> bool:
    """Whether a docker client with the compose plugin is installed."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_available(), reason="no docker client with the compose plugin")
def test_docker_compose_config_validates() -> None:
    env = {"DATACOIN_PLATFORM_KEYS": '{"k1": "AAAA"}', "DATACOIN_PLATFORM_KEY_ID": "k1"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
