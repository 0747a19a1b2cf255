"""What an image built from ops/docker/* holds, read from the Dockerfile (no engine runs
here): per stage, the Python distributions its pip/uv lines install (a lock file's whole
list for ``-r``), and which paths of the build context it copies; stages inherit from the
stage they start FROM and from the stages they ``COPY --from``.

And what a command needs: the third-party modules reachable by imports (also the lazy ones
inside functions; not ``if TYPE_CHECKING:`` ones) from its modules, through our packages."""

from __future__ import annotations

import ast
import fnmatch
import functools
import re
import shlex
import sys
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {
    "api",
    "bench",
    "cli",
    "common",
    "contracts",
    "indexer",
    "migrations",
    "projections",
    "storage",
    "tests",
    "workers",
}
# pip/uv options that take a value (the value is not a package)
_VALUED = {"-r", "-c", "-e", "--index-url", "--extra-index-url", "--python", "-i", "--target"}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_names(path: Path) -> dict[str, str]:
    """`name -> version` of a pip-compile lock file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


@dataclass
class Stage:
    """One FROM ... [AS name] of a Dockerfile."""

    name: str
    base: str
    packages: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    copied_from: set[str] = field(default_factory=set)
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        current += " " + line.removesuffix("\\")
        if not line.endswith("\\"):
            joined.append(current.strip())
            current = ""
    split = [[*item.split(None, 1), ""] for item in joined]
    return [(keyword.upper(), args) for keyword, args, *_ in split]


def _installs(command: str) -> set[str]:
    """Distributions a RUN line's pip/uv installs name (a ``-r`` lock file's every one)."""
    found: set[str] = set()
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part)
        if "install" not in words or not {"pip", "uv"} & {Path(w).name for w in words}:
            continue
        args = words[words.index("install") + 1 :]
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "-r":
                found |= set(lock_names(REPO / Path(args[i + 1]).name))
            if arg in _VALUED:
                i += 2
                continue
            if not arg.startswith("-") and "/" not in arg and arg != ".":
                found.add(normalize(re.split(r"[=<>!~\[]", arg)[0]))
            i += 1
    return found


def parse(path: Path) -> dict[str, Stage]:
    """The stages of the Dockerfile at `path`, in order; the last is also named ``""``."""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else f"#{len(stages)}"
            stage = stages[name] = Stage(name=name, base=words[0])
            continue
        if stage is None:
            continue  # ARG before the first FROM
        stage.instructions.append((keyword, args))
        if keyword == "RUN":
            stage.packages |= _installs(args)
        elif keyword == "COPY":
            words = args.split()
            sources = [w for w in words[:-1] if not w.startswith("--")]
            origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            if origin is not None:
                stage.copied_from.add(origin)
            else:
                stage.sources |= set(sources)
    if stage is not None:
        stages[""] = stage
    return stages


def resolve(stages: dict[str, Stage], name: str) -> Stage:
    """Stage `name` with everything it inherits (FROM a stage, COPY --from a stage)."""
    own = stages[name]
    merged = Stage(name=own.name, base=own.base, instructions=list(own.instructions))
    merged.packages |= own.packages
    merged.sources |= own.sources
    for parent in {own.base, *own.copied_from} & set(stages):
        inherited = resolve(stages, parent)
        merged.packages |= inherited.packages
        merged.sources |= inherited.sources
        if parent == own.base:
            merged.instructions = inherited.instructions + merged.instructions
    return merged


def dockerignored(path: str) -> bool:
    """Whether the repository's .dockerignore keeps `path` (or a folder above it) out."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
        for prefix in prefixes
        for pattern in patterns
    )


def copies(stage: Stage, package: str) -> bool:
    """Whether `stage` holds our top-level `package` from the build context."""
    for source in stage.sources:
        root = source.rstrip("/")
        if root in (".", package) and not dockerignored(package):
            return True
    return False


# --- what a command imports ----------------------------------------------------------------


def _module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


@functools.cache
def _imported(path: Path, module: str) -> frozenset[str]:
    """Every module `path` imports anywhere (functions too), not under TYPE_CHECKING."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([child.module] if child.module else [])])
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return frozenset(names)


@dataclass
class Reach:
    """What importing some modules pulls in."""

    third_party: set[str]
    first_party: set[str]


def reach(modules: list[str]) -> Reach:
    """Third-party top-level modules and our top-level packages reachable from `modules`."""
    seen: set[str] = set()
    third: set[str] = set()
    ours: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        top = name.split(".")[0]
        if top in FIRST_PARTY:
            path = _module_file(name)
            if path is None:
                continue  # `from package import function`: not a module
            ours.add(top)
            parts = name.split(".")
            todo += [".".join(parts[:i]) for i in range(1, len(parts))]
            todo += sorted(_imported(path, name))
        elif top not in sys.stdlib_module_names and top != "__future__":
            third.add(top)
    return Reach(third, ours)


@functools.cache
def _providers() -> dict[str, list[str]]:
    return dict(packages_distributions())  # a walk over every installed distribution: once


def distributions(module: str) -> set[str]:
    """The installed distributions that provide top-level `module`."""
    return {normalize(name) for name in _providers().get(module, [])}
