"""The embedded block store: round trips, verification on read, idempotence, pins."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from multiformats import CID

from storage.base import BlobStore
from storage.blockstore import EmbeddedBlockStore
from storage.cid import CidVersion, parse_cid
from storage.errors import (
    BlockNotFoundError,
    ContentMismatchError,
    InvalidCidError,
    UnsupportedContentError,
)
from storage.importer import compute_cid
from storage.unixfs import decode_node, encode_node
from tests.storage.conftest import CHUNK, counter_bytes, counter_stream

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 12_345]


def _read(blobs: BlobStore, cid: str) -> bytes:
    return b"".join(blobs.get(cid))


def test_embedded_store_is_a_blob_store(blobs: EmbeddedBlockStore) -> None:
    backend: BlobStore = blobs  # checked by mypy: the Protocol is satisfied
    assert backend.has(compute_cid([b"x"])) is False


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(blobs: EmbeddedBlockStore, size: int, version: CidVersion) -> None:
    # Given a payload
    data = counter_bytes(size)
    # When it is put and read back
    result = blobs.put([data], version)
    # Then the bytes, size, sha256 and CID agree with the content
    assert _read(blobs, result.cid) == data
    assert result.size == size
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.cid == compute_cid([data], version)
    assert blobs.has(result.cid)


def test_two_level_dag_streamed_from_a_generator(blobs: EmbeddedBlockStore) -> None:
    # Given 175 chunks + 1 byte (two-level DAG), streamed from a generator
    size = 175 * CHUNK + 1
    # When it is put
    result = blobs.put(counter_stream(size))
    # Then its root links two subtrees and reading it back gives the same bytes
    root = parse_cid(result.cid)
    assert len(decode_node(blobs.read_block(root)).links) == 2
    assert result.size == size
    assert _read(blobs, result.cid) == counter_bytes(size)


def test_put_reads_binary_file_objects(blobs: EmbeddedBlockStore) -> None:
    data = counter_bytes(3 * CHUNK + 5)
    result = blobs.put(io.BytesIO(data))
    assert result.cid == compute_cid([data])
    assert _read(blobs, result.cid) == data


def test_put_is_idempotent(blobs: EmbeddedBlockStore) -> None:
    # Given content already stored
    data = counter_bytes(4 * CHUNK + 3)
    first = blobs.put([data])
    files = sorted(blobs.root.rglob("*"))
    mtimes = {p: p.stat().st_mtime_ns for p in files if p.is_file()}
    # When it is put again
    second = blobs.put([data])
    # Then the result is identical and no block file was rewritten or added
    assert second == first
    assert sorted(blobs.root.rglob("*")) == files
    assert {p: p.stat().st_mtime_ns for p in files if p.is_file()} == mtimes
    assert not [p for p in files if p.name.startswith(".tmp-")]


def test_cidv0_and_cidv1_of_one_file_coexist(blobs: EmbeddedBlockStore) -> None:
    data = counter_bytes(2 * CHUNK)
    v0, v1 = blobs.put([data], 0), blobs.put([data], 1)
    assert v0.cid.startswith("Qm") and v1.cid.startswith("bafy")
    assert _read(blobs, v0.cid) == _read(blobs, v1.cid) == data


def _flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("version", [0, 1])
def test_tampered_leaf_raises_on_get(blobs: EmbeddedBlockStore, version: CidVersion) -> None:
    # Given a stored three-chunk file whose second leaf is changed on disk
    result = blobs.put([counter_bytes(3 * CHUNK)], version)
    root = parse_cid(result.cid)
    leaf = CID.decode(decode_node(blobs.read_block(root)).links[1].hash)
    _flip_last_byte(blobs.block_path(leaf))
    # When it is read, Then the first chunk is served and the tampered one is refused
    chunks = blobs.get(result.cid)
    assert len(next(chunks)) == CHUNK
    with pytest.raises(ContentMismatchError):
        next(chunks)


def test_tampered_root_raises_before_any_byte(blobs: EmbeddedBlockStore) -> None:
    result = blobs.put([counter_bytes(2 * CHUNK)])
    _flip_last_byte(blobs.block_path(parse_cid(result.cid)))
    with pytest.raises(ContentMismatchError):
        next(blobs.get(result.cid))


def test_tampered_single_raw_block_raises(blobs: EmbeddedBlockStore) -> None:
    result = blobs.put([b"hello world\n"])
    _flip_last_byte(blobs.block_path(parse_cid(result.cid)))
    with pytest.raises(ContentMismatchError):
        _read(blobs, result.cid)


def test_missing_blocks(blobs: EmbeddedBlockStore) -> None:
    # A root that was never stored fails at once; a lost leaf fails while reading
    absent = compute_cid([b"never stored"])
    with pytest.raises(BlockNotFoundError):
        blobs.get(absent)
    assert blobs.has(absent) is False
    result = blobs.put([counter_bytes(2 * CHUNK)])
    leaf = CID.decode(decode_node(blobs.read_block(parse_cid(result.cid))).links[0].hash)
    blobs.block_path(leaf).unlink()
    with pytest.raises(BlockNotFoundError):
        _read(blobs, result.cid)


def test_pins(blobs: EmbeddedBlockStore) -> None:
    # Given a stored file
    result = blobs.put([b"pin me"], 0)
    assert not blobs.is_pinned(result.cid)
    # When it is pinned (twice: idempotent)
    blobs.pin(result.cid)
    blobs.pin(result.cid)
    # Then the pin is on disk, visible under both CID versions and from a new instance
    again = EmbeddedBlockStore(blobs.root)
    v1 = str(parse_cid(result.cid).set(base="base32", version=1))
    assert again.is_pinned(result.cid) and again.is_pinned(v1)
    assert again.pins() == [v1]
    # And pinning something absent is refused
    with pytest.raises(BlockNotFoundError):
        blobs.pin(compute_cid([b"absent"]))


def test_put_can_pin(blobs: EmbeddedBlockStore) -> None:
    result = blobs.put([b"pinned on put"], pin=True)
    assert blobs.is_pinned(result.cid)


def test_blocks_are_sharded_by_multihash(blobs: EmbeddedBlockStore) -> None:
    blobs.put([counter_bytes(2 * CHUNK + 1)])
    files = [p for p in (blobs.root / "blocks").rglob("*") if p.is_file()]
    assert len(files) == 4  # three leaves and the root
    for path in files:
        assert path.parent.name == path.name[-3:-1]


def test_invalid_cids_are_rejected(blobs: EmbeddedBlockStore) -> None:
    for bad in ["", "hello", "Qm", "bafy"]:
        with pytest.raises(InvalidCidError):
            blobs.has(bad)
    # An identity-hash CID names data we cannot verify by hashing
    identity = CID("base32", 1, "raw", ("identity", b"abc"))
    with pytest.raises(InvalidCidError):
        blobs.get(str(identity))


def test_a_directory_is_not_a_file(blobs: EmbeddedBlockStore) -> None:
    # Given an authentic dag-pb block that is a UnixFS directory (Type=1)
    block = encode_node([], b"\x08\x01")
    cid = CID("base32", 1, "dag-pb", ("sha2-256", hashlib.sha256(block).digest()))
    blobs.put_block(cid, block)
    with pytest.raises(UnsupportedContentError):
        _read(blobs, str(cid))


def test_non_durable_mode_skips_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    EmbeddedBlockStore(tmp_path, durable=False).put([b"x" * 10])
    assert calls == []
    EmbeddedBlockStore(tmp_path / "d").put([b"x" * 10])
    assert calls
