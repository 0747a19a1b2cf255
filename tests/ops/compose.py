"""ops/compose.yaml as the tests read it: the YAML (anchors and merge keys resolved), its
variables substituted as `docker compose` does, and the platform's services (those built
from this repository's Dockerfiles)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "ops" / "compose.yaml"
SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, and $$ (a $)
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


class MissingVariableError(ValueError):
    """A `${NAME:?message}` whose variable is not set."""


def load() -> dict[str, Any]:
    """The compose file as written (variables not substituted)."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def _substitute(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return arg if unset else str(value)
        if op in (":?", "?"):
            if unset:
                raise MissingVariableError(f"{name}: {arg}")
            return str(value)
        return "" if value is None else value

    return _VARIABLE.sub(one, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """`node` with every string's variables substituted from `env`."""
    if isinstance(node, str):
        return _substitute(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    return node


def effective(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as `docker compose config` would see it with `env` set."""
    document: dict[str, Any] = interpolate(load(), env or {})
    return document


def platform_services(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfiles."""
    return {name: svc for name, svc in document["services"].items() if "build" in svc}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a list of NAME=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}
