"""The API starts quietly (its stop with an SSE stream open is tests/cli/test_serve.py's)."""

from __future__ import annotations

import subprocess
import sys


def test_the_api_imports_without_warnings() -> None:
    # (siwe's grammar used to print eight lines of abnf warnings on every API start)
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import api.app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "GrammarWarning" not in out.stderr, out.stderr
