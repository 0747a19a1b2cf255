"""The backfill benchmark's own bookkeeping: where its results land in RESULTS.md, the
anvil-state metadata, and the process-tree RSS sampler (the benchmark itself is not a test)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.indexer_backfill import (
    SCALE_END,
    SCALE_TARGETS,
    PeakRss,
    Workload,
    _workload_from_json,
    _workload_json,
    write_section,
)
from common.manifest import Deployment

RESULTS = f"""# Backfill benchmark results

top table

<!-- scale:start -->
## Issue 20

### Curves

curves

{SCALE_TARGETS}

| target | result |
{SCALE_END}

after
"""


def test_write_section_goes_before_the_targets_and_replaces_its_heading(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS)
    write_section(path, "### Backfill at 1M\n\nfirst\n")
    text = path.read_text()
    assert text.startswith("# Backfill benchmark results\n\ntop table\n")
    assert text.index("### Curves") < text.index("first") < text.index(SCALE_TARGETS)
    assert text.endswith(f"| target | result |\n{SCALE_END}\n\nafter\n")

    write_section(path, "### Backfill at 1M\n\nsecond\n")
    text = path.read_text()
    assert "first" not in text
    assert text.count("### Backfill at 1M") == 1
    assert text.index("second") < text.index(SCALE_TARGETS)

    write_section(path, "### Backfill at 100k\n\nother\n")  # a new heading: both are kept
    text = path.read_text()
    assert text.index("second") < text.index("other") < text.index(SCALE_TARGETS)


def test_write_section_needs_the_targets_table(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# nothing here\n")
    with pytest.raises(RuntimeError):
        write_section(path, "### A\n\nx\n")


def test_workload_survives_the_state_metadata() -> None:
    deployment = Deployment.model_validate(
        {
            "chain_id": 31337,
            "start_block": 1,
            "deployer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "deployed_at": "2026-12-05T15:29:46.079378Z",
            "compiler": "0.8.28+commit.7893614a",
            "contracts": {
                "DataCoin": {
                    "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                    "abi_digest": "63" * 32,
                    "tx_hash": "0x" + "ac" * 32,
                    "block_number": 1,
                }
            },
        }
    )
    work = Workload(deployment, 212, 200, 20_000, 20_005, {"Transfer": 15_001}, 20_001, 212, 11.3)
    assert _workload_from_json(_workload_json(work)) == work


def test_peak_rss_counts_child_processes() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; b = bytearray(96 * 2**20); b[::4096] = b'x' * len(b[::4096]);"
            " print(1, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"
        with PeakRss(interval=0.01) as rss:
            time.sleep(0.1)
        assert rss.peak >= rss.before >= 96 * 2**20  # the child's touched pages are in both
        with PeakRss(interval=0.01, exclude={child.pid}) as without_child:
            time.sleep(0.05)
        assert without_child.before <= rss.before - 90 * 2**20
    finally:
        child.kill()
        child.wait()
