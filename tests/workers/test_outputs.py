"""What the worker accepts from a sandbox's out/ dir: regular files within their limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.errors import PermanentError
from workers.training.job import _read_output


def test_only_regular_files_within_the_limit_are_read(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    assert _read_output(tmp_path / "model.safetensors", 10) == b"x" * 10
    with pytest.raises(PermanentError, match="within 9 bytes"):
        _read_output(tmp_path / "model.safetensors", 9)
    # A link to a host file, a FIFO (would block a reader) and a missing file are refused
    (tmp_path / "link").symlink_to("/etc/hostname")
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo", "missing"):
        with pytest.raises(PermanentError):
            _read_output(tmp_path / name, 1 << 20)
