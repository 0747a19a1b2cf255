"""ops/compose.yaml, checked as an operator's engine would (none runs here): it validates
against the Compose Specification's schema; every DATACOIN_* variable it sets is a setting,
with a value the settings accept; every command is a `datacoin` command with options it
has; services wait for the one-shot migration and have health checks; secrets come from
files; metrics listen where Prometheus scrapes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from typer.main import get_command

from cli.main import app
from common.chain import dev_account
from common.secret_files import SUFFIX
from common.settings import Settings
from tests.ops.compose import (
    REPO,
    SCHEMA,
    MissingVariableError,
    effective,
    environment,
    interpolate,
    load,
    platform_services,
)

DOCUMENT = effective()
SERVICES = DOCUMENT["services"]
PLATFORM = platform_services(DOCUMENT)
#: Long-running services of ours (one-shot ones are `restart: "no"`)
LONG_RUNNING = {n for n, s in PLATFORM.items() if s.get("restart") == "unless-stopped"}
SECRETS_DIR = "/run/secrets/"
FIELDS = {f"DATACOIN_{name.upper()}" for name in Settings.model_fields}


def test_it_validates_against_the_compose_specification() -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    for document in (load(), DOCUMENT):  # as written, and with its variables substituted
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, errors


def test_substitution_works_like_compose() -> None:
    # (the helper the other tests rely on)
    assert interpolate("${A:-x}/${B-y}/${C}/$$", {"A": "", "B": ""}) == "x///$"
    with pytest.raises(MissingVariableError, match="say so"):
        interpolate("${D:?say so}", {})


def test_the_platform_services_are_there() -> None:
    assert {"migrate", "deploy", "indexer", "projector", "api", "worker", "trainer"} == set(
        PLATFORM
    )
    assert {"indexer", "projector", "api", "worker"} == LONG_RUNNING
    assert {"postgres", "redis", "ipfs", "chain", "proxy"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_every_datacoin_variable_is_a_setting(name: str) -> None:
    for variable in environment(SERVICES[name]):
        if variable.startswith("DATACOIN_"):
            setting = variable.removesuffix(SUFFIX.upper())
            assert setting in FIELDS, f"{name}: {variable} is no setting"


def secret_files(tmp_path: Path) -> dict[str, Path]:
    """Stand-ins for ops/secrets/: what `ops/init-secrets.sh --dev` writes."""
    values = {
        "platform_keys": json.dumps({"k1": "A" * 43 + "="}),
        "worker_key": dev_account(0).key.hex(),
        "deployer_key": dev_account(0).key.hex(),
    }
    files = {}
    for secret, value in values.items():
        files[secret] = tmp_path / secret
        files[secret].write_text(value + "\n")
    return files


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_every_service_environment_makes_valid_settings(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SERVICES[name]
    files = secret_files(tmp_path)
    for variable in [v for v in os.environ if v.startswith("DATACOIN_")]:
        monkeypatch.delenv(variable)
    for variable, value in environment(service).items():
        if not variable.endswith("_FILE"):
            monkeypatch.setenv(variable, value)
            continue
        # a file variable names a secret this service mounts
        assert value.startswith(SECRETS_DIR), (variable, value)
        secret = value.removeprefix(SECRETS_DIR)
        assert secret in service.get("secrets", []), f"{name} does not mount {secret}"
        assert secret in DOCUMENT["secrets"], secret
        monkeypatch.setenv(variable, str(files[secret]))
    settings = Settings()  # raises on a value the settings refuse
    if name in LONG_RUNNING:
        assert settings.platform_keys, f"{name}: the key ring comes from its secret"
        assert settings.metrics_host == "0.0.0.0", f"{name}: metrics unreachable from Prometheus"
    if name == "worker":
        assert settings.sandbox_backend == "docker" and settings.worker_key is not None


def resolve_command(argv: list[str]) -> Any:
    """The click command `argv` names, its options parsed (unknown ones raise)."""
    command: Any = get_command(app)
    words = list(argv)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    assert not hasattr(command, "commands"), f"{argv}: a group, not a command"
    command.make_context(command.name, words)
    return command


@pytest.mark.parametrize("name", sorted(set(PLATFORM) - {"trainer"}))
def test_every_command_is_a_datacoin_command(name: str) -> None:
    command = SERVICES[name]["command"]
    resolve_command(command)  # raises NoSuchOption / fails on an unknown command


def test_a_wrong_command_is_caught() -> None:
    with pytest.raises(AssertionError):
        resolve_command(["db"])
    with pytest.raises(Exception, match="No such option"):
        resolve_command(["serve", "--bogus"])


def test_services_wait_for_the_migration_and_never_migrate_themselves() -> None:
    assert SERVICES["migrate"]["command"] == ["db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in LONG_RUNNING:
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["deploy"] == {"condition": "service_completed_successfully"}, name
        assert SERVICES[name]["command"][0] != "db", name


def test_health_checks_and_restarts() -> None:
    for name in LONG_RUNNING | {"postgres", "redis", "ipfs", "chain", "proxy"}:
        check = SERVICES[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        assert SERVICES[name]["restart"] == "unless-stopped", name
    # the image's health check probes the metrics port where there is no API
    for name in LONG_RUNNING - {"api"}:
        assert environment(SERVICES[name])["HEALTHCHECK_URL"].endswith(":9100/metrics"), name


def test_secrets_come_from_ignored_files() -> None:
    for secret in DOCUMENT["secrets"].values():
        path = (REPO / "ops" / secret["file"]).resolve()
        assert path.parent == REPO / "ops" / "secrets"
    assert "ops/secrets/" in (REPO / ".gitignore").read_text().splitlines()
    assert "ops/secrets" in (REPO / ".dockerignore").read_text().splitlines()
    for name in PLATFORM:
        for variable in environment(SERVICES[name]):
            assert "KEY" not in variable or variable.endswith(("_FILE", "KEY_ID")), (name, variable)


def test_prometheus_scrapes_where_the_services_listen() -> None:
    config = yaml.safe_load((REPO / "ops" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) >= LONG_RUNNING
    for name in LONG_RUNNING:
        job = jobs[name]
        if "static_configs" in job:
            (target,) = job["static_configs"][0]["targets"]
            host, port = target.split(":")
        else:
            (sd,) = job["dns_sd_configs"]
            host, port = sd["names"][0], str(sd["port"])
        assert host == name
        env = environment(SERVICES[name])
        expected = env.get("DATACOIN_API_PORT") if name == "api" else env["DATACOIN_METRICS_PORT"]
        assert port == expected, name
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounted = SERVICES["prometheus"]["volumes"][0]
    assert mounted == "./prometheus:/etc/prometheus:ro"


def test_the_api_believes_forwarded_headers_from_the_proxy_only() -> None:
    api = environment(SERVICES["api"])
    proxy_address = SERVICES["proxy"]["networks"]["default"]["ipv4_address"]
    assert json.loads(api["DATACOIN_FORWARDED_ALLOW_IPS"]) == [proxy_address]
    assert "ports" not in SERVICES["api"], "the API is reached through the proxy only"
    assert environment(SERVICES["proxy"])["UPSTREAM"] == "api:" + api["DATACOIN_API_PORT"]
    assert api["DATACOIN_PUBLIC_URL"] == "https://" + environment(SERVICES["proxy"])["SITE_ADDRESS"]


def test_the_worker_s_docker_socket_is_explained() -> None:
    worker = SERVICES["worker"]
    assert any(volume.endswith(":/var/run/docker.sock") for volume in worker["volumes"])
    # the engine mounts job directories by their host path: the same path inside
    work_dir = environment(worker)["DATACOIN_WORK_DIR"]
    assert f"{work_dir}:{work_dir}" in worker["volumes"]
    readme = (REPO / "README.md").read_text()
    section = readme.split("### The worker and the Docker socket", 1)[1].split("\n##", 1)[0]
    assert "root" in section and "rootless" in section and "DOCKER_SOCKET" in section


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="no docker-compose (optional)")
def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    # A second opinion where Debian's docker-compose (1.29) is installed; the schema test
    # above is the one CI relies on. 1.29 predates the top-level `name`: checked without it.
    document = load()
    assert document.pop("name") == "datacoin"
    copy = tmp_path / "compose.yaml"
    copy.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        ["docker-compose", "-f", str(copy), "--project-directory", str(REPO / "ops"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    # its own reading agrees: the build context is the repository, the secrets are in ops/
    assert Path(resolved["services"]["api"]["build"]["context"]) == REPO
    assert (
        Path(resolved["secrets"]["worker_key"]["file"]) == REPO / "ops" / "secrets" / "worker_key"
    )
