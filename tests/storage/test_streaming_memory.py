"""A large stream never sits in memory: put and get stay within a few chunks of memory."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from storage.blockstore import EmbeddedBlockStore
from storage.envelope import decrypt, encrypt
from storage.keyring import KeyRing, generate_key

MIB = 1 << 20
CHUNK = 262_144
TOTAL = 300 * MIB
BUDGET = 24 * MIB  # a few 256 KiB blocks and 1 MiB pieces, far below the 300 MiB streamed


def _distinct_pieces(total: int, seed: bytes = b"") -> Iterator[bytes]:
    """1 MiB pieces in which every 256 KiB chunk differs (no block dedup), made cheaply."""
    base = bytearray(hashlib.shake_256(seed).digest(MIB))
    for i in range(total // MIB):
        for offset in range(0, MIB, CHUNK):
            base[offset : offset + 8] = (4 * i + offset // CHUNK).to_bytes(8, "big")
        yield bytes(base)


def _sha256(pieces: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def test_put_and_get_of_300_mib_stream_in_bounded_memory(tmp_path: Path) -> None:
    # Given a 300 MiB stream from a generator and a store (fsync off: this measures memory)
    blobs = EmbeddedBlockStore(tmp_path, durable=False)
    tracemalloc.start()
    try:
        # When it is put
        result = blobs.put(_distinct_pieces(TOTAL))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        # And read back, block by block, verified
        digest = hashlib.sha256()
        size = 0
        for chunk in blobs.get(result.cid):
            digest.update(chunk)
            size += len(chunk)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then neither direction held more than a few MiB
    assert result.size == size == TOTAL
    blocks = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    assert len(blocks) == 1200 + 7 + 1  # every leaf distinct, 7 internal nodes, the root
    assert digest.hexdigest() == result.sha256 == _sha256(_distinct_pieces(TOTAL))
    assert put_peak < BUDGET, f"put peaked at {put_peak / MIB:.1f} MiB"
    assert get_peak < BUDGET, f"get peaked at {get_peak / MIB:.1f} MiB"


def test_envelope_streams_in_bounded_memory() -> None:
    # Given 64 MiB encrypted and decrypted in one pipeline
    ring = KeyRing({"k1": generate_key()}, "k1")
    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        for chunk in decrypt(encrypt(_distinct_pieces(64 * MIB, b"env"), ring), ring):
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it round-trips without buffering the stream
    assert digest.hexdigest() == _sha256(_distinct_pieces(64 * MIB, b"env"))
    assert peak < BUDGET, f"envelope pipeline peaked at {peak / MIB:.1f} MiB"
