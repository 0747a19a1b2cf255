"""contracts/ is the bottom layer: sources, artifacts and the code generated from them. It
imports none of our other packages, so every one of them may import it without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import contracts

CONTRACTS_DIR = Path(contracts.__file__).parent
#: Our packages above contracts/ (deployment lives in common.deploy for this reason).
UPPER_PACKAGES = frozenset(
    {"common", "indexer", "projections", "api", "workers", "storage", "cli", "bench", "tests"}
)


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in the module at `path` (code only: an
    import inside a string, such as codegen's template, is not one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_contracts_imports_none_of_our_other_packages() -> None:
    modules = sorted(CONTRACTS_DIR.rglob("*.py"))
    assert modules, f"no modules under {CONTRACTS_DIR}"
    offending = {
        str(path.relative_to(CONTRACTS_DIR.parent)): sorted(
            imported_packages(path) & UPPER_PACKAGES
        )
        for path in modules
    }
    assert {name: pkgs for name, pkgs in offending.items() if pkgs} == {}
