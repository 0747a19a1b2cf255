"""The committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

from contracts.artifacts import ARTIFACTS_DIR, PLATFORM_CONTRACTS, load_artifact
from contracts.compile import build_artifacts, serialize


def test_committed_artifacts_match_a_fresh_compile() -> None:
    fresh = build_artifacts()
    committed = {p.stem: p.read_bytes() for p in ARTIFACTS_DIR.glob("*.json")}
    assert set(committed) == set(fresh), "artifact set differs: run `make contracts`"
    stale = [name for name, artifact in fresh.items() if serialize(artifact) != committed[name]]
    assert stale == [], f"stale artifacts (run `make contracts`): {stale}"


def test_every_platform_contract_has_abi_bytecode_and_provenance() -> None:
    for name in PLATFORM_CONTRACTS:
        artifact = load_artifact(name)
        code = artifact["bytecode"]
        assert code.startswith("0x") and len(code) > 1000
        bytes.fromhex(code[2:])  # valid hex
        assert artifact["compiler"]["version"].startswith("0.8.28")
        assert artifact["compiler"]["settings"]["evmVersion"] == "cancun"
        assert any(item["type"] == "event" for item in artifact["abi"])
