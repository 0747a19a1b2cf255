"""Settings from files (`DATACOIN_<NAME>_FILE`, how Docker secrets arrive), the public
origin that sign-in messages name, and the README's table generated from the class."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic_settings.exceptions import SettingsError

from common import settings_doc
from common.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [v for v in os.environ if v.startswith("DATACOIN_")]:
        monkeypatch.delenv(variable)


def test_a_secret_file_sets_its_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a key ring and a key in files, as Docker mounts secrets (with a final newline)
    ring = tmp_path / "platform_keys"
    ring.write_text(json.dumps({"k1": "A" * 43 + "="}) + "\n")
    key = tmp_path / "worker_key"
    key.write_text("0x" + "11" * 32 + "\n")
    monkeypatch.setenv("DATACOIN_PLATFORM_KEYS_FILE", str(ring))
    monkeypatch.setenv("datacoin_worker_key_file", str(key))  # names are case-insensitive
    # When the settings are built
    settings = Settings()
    # Then the files' contents are the values, parsed as the variables would be
    assert set(settings.platform_keys) == {"k1"}
    assert settings.worker_key is not None
    assert settings.worker_key.get_secret_value() == "0x" + "11" * 32


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATACOIN_WORKER_KEY": "0x1", "DATACOIN_WORKER_KEY_FILE": "{file}"}, "keep one"),
        ({"DATACOIN_WORKR_KEY_FILE": "{file}"}, "DATACOIN_WORKR_KEY does not exist"),
        ({"DATACOIN_WORKER_KEY_FILE": "{missing}"}, "cannot read"),
    ],
)
def test_a_wrong_secret_file_is_refused_by_name(
    variables: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("0x1")
    for variable, value in variables.items():
        path = value.format(file=tmp_path / "key", missing=tmp_path / "missing")
        monkeypatch.setenv(variable, path)
    with pytest.raises(SettingsError, match=message):
        Settings()


def test_sign_in_follows_the_public_url_unless_told_otherwise() -> None:
    public = Settings(public_url="https://datacoin.example:8443/")
    assert (public.siwe_domain, public.siwe_uri) == (
        "datacoin.example:8443",
        "https://datacoin.example:8443",
    )
    explicit = Settings(public_url="https://datacoin.example", siwe_uri="https://app.example")
    assert (explicit.siwe_domain, explicit.siwe_uri) == ("datacoin.example", "https://app.example")
    assert Settings().siwe_domain == "localhost:8000"  # no public URL: the development default
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="datacoin.example/path")


def test_the_readme_table_is_the_generated_one() -> None:
    readme = settings_doc.README.read_text()
    assert settings_doc.with_table(readme) == readme, "run: python -m common.settings_doc"
    table = settings_doc.settings_table()
    assert table.count("\n| `DATACOIN_") == len(Settings.model_fields)
    assert "| `DATACOIN_METRICS_HOST` | `127.0.0.1` |" in table
    assert "| `DATACOIN_FORWARDED_ALLOW_IPS` | `[]` |" in table
