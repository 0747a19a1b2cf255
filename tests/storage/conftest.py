"""Deterministic payloads (as defined by shared/testdata/ipfs-cid-vectors.json) and stores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.blockstore import EmbeddedBlockStore

CHUNK = 262_144


def counter_stream(size: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """``concat(sha256(i.to_bytes(8, 'big')) for i = 0, 1, ...)[:size]``, in pieces."""
    buf = bytearray()
    i = 0
    remaining = size
    while remaining:
        while len(buf) < min(piece, remaining):
            buf += hashlib.sha256(i.to_bytes(8, "big")).digest()
            i += 1
        take = min(piece, remaining)
        yield bytes(buf[:take])
        del buf[:take]
        remaining -= take


def counter_bytes(size: int) -> bytes:
    return b"".join(counter_stream(size))


def payload_stream(kind: str, size: int) -> Iterator[bytes]:
    """The vector file's payloads: counter, zeros, hello."""
    if kind == "counter":
        yield from counter_stream(size)
    elif kind == "zeros":
        for start in range(0, size, 1 << 20):
            yield bytes(min(1 << 20, size - start))
    elif kind == "hello":
        assert size == 12
        yield b"hello world\n"
    else:
        raise AssertionError(f"unknown payload {kind}")


@pytest.fixture
def blobs(tmp_path: Path) -> EmbeddedBlockStore:
    return EmbeddedBlockStore(tmp_path / "blocks")
