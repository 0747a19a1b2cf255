"""The images, read from their Dockerfiles (no engine runs here): each compose service's
image holds what its command imports; the runtime image installs the runtime lock (no
test or lint tools), the worker image adds torch at the pinned version; every image runs
as a non-root user and says how its health is checked."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.ops import images
from tests.ops.compose import REPO, effective, platform_services

DEV_TOOLS = {"pytest", "pytest-timeout", "mypy", "ruff", "schemathesis", "hypothesis", "playwright"}
#: What the worker runs besides its own modules: its sandbox starts
#: `python -m workers.training.entry` with the worker's own interpreter (bubblewrap backend;
#: the Docker backend runs the same module in the sandbox image).
SANDBOX_ENTRY = "workers.training.entry"


def pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def command_modules() -> dict[tuple[str, ...], list[str]]:
    """`datacoin` command path -> the modules its function imports (cli/main.py's AST):
    ``("db", "upgrade") -> ["migrations.runner"]``."""
    tree = ast.parse((REPO / "cli" / "main.py").read_text())
    groups: dict[str, tuple[str, ...]] = {"app": ()}
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "app.add_typer":
            named = next(k.value for k in call.keywords if k.arg == "name")
            groups[ast.unparse(call.args[0])] = (str(ast.literal_eval(named)),)
    commands: dict[tuple[str, ...], list[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (
                isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith(".command")
            ):
                continue
            group = ast.unparse(decorator.func).removesuffix(".command")
            command = (
                str(ast.literal_eval(decorator.args[0]))
                if decorator.args
                else node.name.replace("_", "-")
            )
            imported = [n.module for n in ast.walk(node) if isinstance(n, ast.ImportFrom)]
            commands[(*groups[group], command)] = [m for m in imported if m]
    return commands


def service_image(service: dict[str, Any]) -> images.Stage:
    build = service["build"]
    dockerfile = REPO / build["dockerfile"]
    stages = images.parse(dockerfile)
    return images.resolve(stages, build.get("target", ""))


def service_modules(name: str, service: dict[str, Any]) -> list[str]:
    """The modules a compose service runs: its `datacoin` command's, or (an image with no
    command: the sandbox) its entrypoint's module."""
    command = service.get("command")
    if command is None:
        stage = service_image(service)
        entry = [args for keyword, args in stage.instructions if keyword == "ENTRYPOINT"][-1]
        argv = ast.literal_eval(entry)
        assert argv[:2] == ["python", "-m"], (name, argv)
        return [argv[2]]
    known = command_modules()
    path = next(
        (
            path
            for path in sorted(known, key=len, reverse=True)
            if tuple(command[: len(path)]) == path
        ),
        None,
    )
    assert path is not None, f"{name}: {command} is no datacoin command"
    modules = known[path]
    if path == ("work",):
        job = (REPO / "workers" / "training" / "job.py").read_text()
        assert f'"-m", "{SANDBOX_ENTRY}"' in job, "the worker's sandbox no longer runs the entry"
        modules = [*modules, SANDBOX_ENTRY]
    return modules


SERVICES = platform_services(effective())


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_image_holds_what_the_command_imports(name: str) -> None:
    service = SERVICES[name]
    stage = service_image(service)
    needed = images.reach(service_modules(name, service))
    # every third-party module the command can import is installed in its image
    missing = {
        module: sorted(images.distributions(module))
        for module in needed.third_party
        if not images.distributions(module) & stage.packages
    }
    assert not missing, f"{name} ({service['build']}) lacks {missing}"
    # and every package of ours it imports is copied into it (not kept out by .dockerignore)
    absent = {package for package in needed.first_party if not images.copies(stage, package)}
    assert not absent, f"{name}: the image does not hold {sorted(absent)}"


def test_the_worker_can_train_and_the_api_image_has_no_torch() -> None:
    assert "torch" in service_image(SERVICES["worker"]).packages
    assert "torch" in service_image(SERVICES["trainer"]).packages
    assert "torch" not in service_image(SERVICES["api"]).packages


def test_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    runtime = images.lock_names(REPO / "requirements.runtime.lock")
    full = images.lock_names(REPO / "requirements.lock")
    # the same versions as the lock the tests run on
    assert {name: full.get(name) for name in runtime} == runtime
    # no test or lint tool in the images
    assert not DEV_TOOLS & set(runtime)
    assert set(full) >= DEV_TOOLS
    # every runtime dependency of the project is in it
    for requirement in pyproject()["project"]["dependencies"]:
        name = images.normalize(requirement.split(">")[0].split("=")[0].split("[")[0].split("<")[0])
        assert name in runtime, name
    # and the images install it, not the dev lock
    for dockerfile in ("Dockerfile", "Dockerfile.sandbox"):
        text = (REPO / "ops" / "docker" / dockerfile).read_text()
        assert "requirements.runtime.lock" in text
        assert "requirements.lock" not in text.replace("requirements.runtime.lock", "")


def test_torch_is_the_version_the_train_extra_pins() -> None:
    (pin,) = pyproject()["project"]["optional-dependencies"]["train"]
    for dockerfile in ("Dockerfile", "Dockerfile.sandbox"):
        text = (REPO / "ops" / "docker" / dockerfile).read_text()
        assert pin in text, dockerfile
        # CPU wheels unless a build argument names CUDA's index
        assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text


@pytest.mark.parametrize(
    ("dockerfile", "target"),
    [("Dockerfile", "runtime"), ("Dockerfile", "worker"), ("Dockerfile.sandbox", "")],
)
def test_images_run_as_a_user_and_declare_their_health(dockerfile: str, target: str) -> None:
    stage = images.resolve(images.parse(REPO / "ops" / "docker" / dockerfile), target)
    users = [args for keyword, args in stage.instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, users
    healthchecks = [args for keyword, args in stage.instructions if keyword == "HEALTHCHECK"]
    assert healthchecks, "HEALTHCHECK (or HEALTHCHECK NONE for a job image)"


def test_dockerignore_keeps_secrets_and_environments_out() -> None:
    for path in (".venv", "node_modules", "web/node_modules", ".env", "ops/secrets/worker_key"):
        assert images.dockerignored(path), path
    for package in ("api", "contracts", "migrations", "workers"):
        assert not images.dockerignored(package), package
    assert not images.dockerignored("contracts/artifacts/DataCoin.json")
    assert not images.dockerignored("migrations/versions/0001_event_store.py")


def test_the_healthcheck_script_probes_a_url(tmp_path: Path) -> None:
    # The images' HEALTHCHECK: exit 1 when nothing answers (a port nobody listens on)
    import subprocess
    import sys

    from common.anvil import free_port

    script = REPO / "ops" / "docker" / "healthcheck.py"
    url = f"http://127.0.0.1:{free_port()}/health"
    result = subprocess.run(
        [sys.executable, str(script)],
        env={"HEALTHCHECK_URL": url},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1 and url in result.stderr
