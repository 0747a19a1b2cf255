"""CIDs are kubo's: every reference vector, both CID versions, and the DAG's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from multiformats import CID

from storage.cid import CidVersion, parse_cid
from storage.importer import DagBuilder, compute_cid, import_stream, rechunk
from storage.unixfs import (
    UNIXFS_FILE,
    PBLink,
    decode_node,
    decode_unixfs,
    encode_node,
    encode_unixfs,
)
from tests.storage.conftest import CHUNK, payload_stream

# The project's copy of ../shared/testdata/ipfs-cid-vectors.json (kubo's reference CIDs), so
# the tests do not depend on where the checkout sits; the shared file wins when present.
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "ipfs-cid-vectors.json"
VECTORS_FILE = (
    _SHARED if _SHARED.exists() else Path(__file__).parent / "data" / "ipfs-cid-vectors.json"
)


def _vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]
    return vectors


def test_vector_file_is_complete() -> None:
    # Given the shared reference file
    vectors = _vectors()
    # Then it holds the payload kinds we regenerate, each with both CIDs
    assert len(vectors) >= 7
    assert {v["payload"] for v in vectors} == {"counter", "zeros", "hello"}
    assert all(v["cidv0"].startswith("Qm") and v["cidv1"].startswith("baf") for v in vectors)


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["name"])
def test_every_vector_cidv0_and_cidv1(vector: dict[str, Any]) -> None:
    # Given the payload regenerated from its definition, in 1 MiB pieces
    pieces = list(payload_stream(vector["payload"], vector["size"]))
    assert sum(map(len, pieces)) == vector["size"]
    # When we hash it as `ipfs add` and as `ipfs add --cid-version=1`
    v0 = compute_cid(pieces, 0)
    v1 = compute_cid(pieces, 1)
    # Then both match kubo's
    assert v0 == vector["cidv0"]
    assert v1 == vector["cidv1"]


def test_empty_file_cids_are_kubos() -> None:
    # kubo: an empty file is one empty leaf (raw for CIDv1, UnixFS File for CIDv0)
    assert compute_cid([], 0) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert compute_cid([b""], 1) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_piece_boundaries_do_not_change_the_cid() -> None:
    # Given the same bytes cut into odd-sized pieces and into one piece
    data = b"".join(payload_stream("counter", 3 * CHUNK + 17))
    odd = [data[i : i + 9_999] for i in range(0, len(data), 9_999)]
    # Then the CID is the same
    assert compute_cid(odd) == compute_cid([data])


def test_rechunk_emits_fixed_chunks() -> None:
    pieces = [b"a" * 5, b"b" * 7, b"", b"c" * 20]
    assert [len(c) for c in rechunk(pieces, 8)] == [8, 8, 8, 8]
    assert [len(c) for c in rechunk([b"x" * 17], 8)] == [8, 8, 1]
    assert list(rechunk([], 8)) == []


def _blocks(size: int, version: CidVersion, max_links: int = 174) -> tuple[CID, dict[CID, bytes]]:
    blocks: dict[CID, bytes] = {}
    result = import_stream(
        payload_stream("counter", size), version, blocks.__setitem__, max_links=max_links
    )
    return result.root.cid, blocks


def test_175_chunks_make_a_two_level_tree_like_kubos_balanced_layout() -> None:
    # Given 175 chunks (one more than a node can link)
    root, blocks = _blocks(175 * CHUNK, 1)
    # Then the root has two children: a full node of 174 leaves and a node of 1 leaf
    node = decode_node(blocks[root])
    children = [decode_node(blocks[CID.decode(link.hash)]) for link in node.links]
    assert [len(child.links) for child in children] == [174, 1]
    fs = decode_unixfs(node.data or b"")
    assert fs.type == UNIXFS_FILE
    assert fs.filesize == 175 * CHUNK
    assert fs.blocksizes == (174 * CHUNK, CHUNK)
    # And the Tsize of each link is the child's block plus everything below it
    first = node.links[0]
    assert first.tsize == len(blocks[CID.decode(first.hash)]) + 174 * CHUNK


def test_three_levels_with_a_small_fanout() -> None:
    # Given a fan-out of 3 and 10 chunks: 3*3 fill depth 2, the 10th opens depth 3
    root, blocks = _blocks(10 * CHUNK, 1, max_links=3)
    depth, cid = 0, root
    while cid.codec.name == "dag-pb":
        node = decode_node(blocks[cid])
        cid = CID.decode(node.links[-1].hash)
        depth += 1
    assert depth == 3
    assert len(decode_node(blocks[root]).links) == 2


def test_builder_is_spent_after_finish_and_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="cid_version"):
        DagBuilder(2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_links"):
        DagBuilder(1, max_links=1)


def test_dag_pb_encoding_is_canonical_and_round_trips() -> None:
    # Given a node with a link and data
    child = parse_cid("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    data = encode_unixfs(UNIXFS_FILE, None, 12, [12])
    block = encode_node([PBLink(bytes(child), 12)], data)
    # Then links (field 2) come before data (field 1), and the empty name is written
    assert block[0] == 0x12
    assert b"\x12\x00\x18\x0c" in block
    decoded = decode_node(block)
    assert decoded.links == (PBLink(bytes(child), 12, ""),)
    assert decode_unixfs(decoded.data or b"").blocksizes == (12,)


def test_hello_world_leaf_bytes_are_kubos() -> None:
    # `ipfs add` of b"hello world\n": PBNode{Data: UnixFS{File, data, filesize 12}}
    leaf = encode_node([], encode_unixfs(UNIXFS_FILE, b"hello world\n", 12))
    assert leaf == b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"
