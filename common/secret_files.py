"""Settings read from files: ``DATACOIN_<NAME>_FILE=/run/secrets/x`` sets ``<name>`` to the
file's contents (surrounding whitespace stripped), as the PostgreSQL image's
``POSTGRES_PASSWORD_FILE`` does. Docker and Kubernetes secrets are files: keys then never
sit in an environment that ``docker inspect`` or ``/proc/<pid>/environ`` shows.

A value is parsed exactly as the environment variable would be (``DATACOIN_PLATFORM_KEYS``
is JSON in its file too). Setting both ``DATACOIN_X`` and ``DATACOIN_X_FILE`` is refused,
as is a ``_FILE`` variable naming no setting or a file that cannot be read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings, EnvSettingsSource
from pydantic_settings.exceptions import SettingsError

SUFFIX = "_file"


class FileSettingsSource(EnvSettingsSource):
    """The ``*_FILE`` variables of the environment, as if each file's contents were the
    variable without its suffix."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        prefix = self.env_prefix.lower()
        fields = {name.lower() for name in self.settings_cls.model_fields}
        environ = {key.lower(): key for key in os.environ}
        values: dict[str, str | None] = {}
        for lowered, key in environ.items():
            if not (lowered.startswith(prefix) and lowered.endswith(SUFFIX)):
                continue
            target = lowered.removesuffix(SUFFIX)
            if target.removeprefix(prefix) not in fields:
                raise SettingsError(f"{key} names no setting ({target.upper()} does not exist)")
            if target in environ:
                raise SettingsError(f"both {environ[target]} and {key} are set: keep one")
            values[target] = read_secret(key, Path(os.environ[key]))
        return values


def read_secret(variable: str, path: Path) -> str:
    """The contents of the file `variable` names, stripped; a clear error if unreadable."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SettingsError(f"{variable}: cannot read {path}: {reason}") from None
