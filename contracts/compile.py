"""Compile the Solidity sources with the pinned solcjs and (re)write the artifacts.

Run with ``python -m contracts.compile``. The compiler is the npm package ``solc`` pinned in
package.json; OpenZeppelin comes from node_modules through solcjs's import callback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from contracts.artifacts import ARTIFACTS_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("contracts/src", "contracts/test")
#: Explicit: anvil's default hardfork moves with its releases; the bytecode must not.
EVM_VERSION = "cancun"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    # TrainingLogged carries ten fields; the IR pipeline avoids "stack too deep".
    "viaIR": True,
    "evmVersion": EVM_VERSION,
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}
    },
}


class CompilationError(RuntimeError):
    """solc reported errors (the message lists them)."""


def source_files() -> list[str]:
    """Repository-relative paths of all Solidity sources, sorted (stable metadata)."""
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for folder in SOURCE_DIRS
        for path in (REPO_ROOT / folder).glob("*.sol")
    )


def standard_json_input() -> dict[str, Any]:
    """The solc standard-JSON input for every source, with the pinned settings."""
    sources = {name: {"content": (REPO_ROOT / name).read_text()} for name in source_files()}
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def run_solc(payload: dict[str, Any]) -> dict[str, Any]:
    """Run solcjs (through node) on a standard-JSON input; raise on any compiler error."""
    node = shutil.which("node")
    if node is None:
        raise CompilationError("node is not installed; solcjs needs Node.js")
    proc = subprocess.run(
        [node, str(REPO_ROOT / "contracts" / "solc_standard_json.cjs")],
        input=orjson.dumps(payload),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CompilationError(proc.stderr.decode(errors="replace"))
    output: dict[str, Any] = orjson.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError("\n".join(e["formattedMessage"] for e in errors))
    return output


def build_artifacts() -> dict[str, dict[str, Any]]:
    """Compile everything and return one artifact per contract defined in our sources."""
    output = run_solc(standard_json_input())
    artifacts: dict[str, dict[str, Any]] = {}
    for source in source_files():
        for name, contract in output["contracts"].get(source, {}).items():
            metadata = orjson.loads(contract["metadata"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "abi": contract["abi"],
                "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
                "compiler": {
                    "version": metadata["compiler"]["version"],
                    "settings": {
                        "optimizer": SETTINGS["optimizer"],
                        "viaIR": True,
                        "evmVersion": EVM_VERSION,
                    },
                },
            }
    return artifacts


def serialize(artifact: dict[str, Any]) -> bytes:
    """Canonical on-disk form of an artifact (indented, sorted keys, trailing newline)."""
    return orjson.dumps(artifact, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], folder: Path = ARTIFACTS_DIR) -> None:
    """Replace the artifacts folder's JSON files with `artifacts`."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    for name, artifact in artifacts.items():
        (folder / f"{name}.json").write_bytes(serialize(artifact))


def main() -> int:
    """Entry point: compile and write artifacts, printing what was written."""
    try:
        artifacts = build_artifacts()
    except CompilationError as exc:
        print(f"compilation failed:\n{exc}", file=sys.stderr)
        return 1
    write_artifacts(artifacts)
    for name in sorted(artifacts):
        size = (len(artifacts[name]["deployedBytecode"]) - 2) // 2
        print(f"{name:<20} {size:>6} bytes runtime")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
