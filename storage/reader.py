"""Walk a UnixFS file DAG in order, verifying every block against its CID before use.

Trust flows from the root CID down: a block is used only after it hashes to the CID its
(already verified) parent names, so the bytes that come out are exactly the file that the
root names. Nothing unverified is ever yielded.

:func:`iter_segments` reads the DAG's dag-pb nodes through ``fetch`` and yields, in file
order, either verified ``bytes`` (data inside a dag-pb node) or a :class:`RawLeaf` that the
caller must still obtain and check (:func:`check_raw_leaf`): the embedded store reads it
from disk, the Kubo client takes it from the ``/cat`` stream. Memory is one decoded node per
level: O(174 * depth) links and one block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from multiformats import CID

from storage.cid import DAG_PB, RAW, parse_cid, verify_block
from storage.errors import ContentMismatchError, InvalidCidError, UnsupportedContentError
from storage.unixfs import UNIXFS_FILE, UNIXFS_RAW, decode_node, decode_unixfs

MAX_DEPTH = 32  # kubo's 174-ary trees reach depth 5 at ~200 TB; deeper is hostile
MAX_RAW_LEAF = 4 << 20  # kubo refuses blocks over 1 MiB (bitswap limit); leave headroom

BlockFetch = Callable[[CID], bytes]
"""Returns the block stored under a CID, or raises :class:`BlockNotFoundError`."""


@dataclass(frozen=True, slots=True)
class RawLeaf:
    """A raw leaf the caller still has to read: ``size`` file bytes that must hash to ``cid``."""

    cid: CID
    size: int


Segment = bytes | RawLeaf


def check_raw_leaf(leaf: RawLeaf, data: bytes) -> bytes:
    """Return ``data`` if it is ``leaf``'s block, else raise :class:`ContentMismatchError`."""
    if len(data) != leaf.size:
        raise ContentMismatchError(f"raw leaf {leaf.cid}: got {len(data)} bytes, want {leaf.size}")
    verify_block(leaf.cid, data)
    return data


def iter_segments(root: CID, fetch: BlockFetch) -> Iterator[Segment]:
    """The file's content in order; dag-pb nodes are fetched and verified on the way."""
    if root.codec.name == RAW:  # a one-block file: no parent gives its size, so read it now
        block = fetch(root)
        verify_block(root, block)
        yield block
        return
    yield from _walk(root, fetch, depth=0)


def iter_file(root: CID, fetch: BlockFetch) -> Iterator[bytes]:
    """The file's bytes, every block (raw leaves included) fetched through ``fetch``."""
    for segment in iter_segments(root, fetch):
        if isinstance(segment, RawLeaf):
            yield check_raw_leaf(segment, fetch(segment.cid))
        elif segment:
            yield segment


def _walk(cid: CID, fetch: BlockFetch, depth: int) -> Iterator[Segment]:
    if depth > MAX_DEPTH:
        raise UnsupportedContentError(f"DAG deeper than {MAX_DEPTH} levels below {cid}")
    if cid.codec.name != DAG_PB:
        raise UnsupportedContentError(f"unsupported codec {cid.codec.name} inside a file DAG")
    block = fetch(cid)
    verify_block(cid, block)
    node = decode_node(block)
    if node.data is None:
        raise UnsupportedContentError(f"dag-pb node {cid} has no UnixFS data")
    fs = decode_unixfs(node.data)
    if fs.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise UnsupportedContentError(f"{cid} is UnixFS type {fs.type}, not a file")
    if len(fs.blocksizes) != len(node.links):
        raise UnsupportedContentError(f"{cid}: {len(node.links)} links, {len(fs.blocksizes)} sizes")
    if fs.data:
        yield fs.data
    for link, size in zip(node.links, fs.blocksizes, strict=True):
        child = _child_cid(link.hash)
        if child.codec.name == RAW:
            if size > MAX_RAW_LEAF:
                raise UnsupportedContentError(f"raw leaf {child} claims {size} bytes")
            yield RawLeaf(child, size)
        else:
            yield from _walk(child, fetch, depth + 1)


def _child_cid(raw: bytes) -> CID:
    try:
        return parse_cid(CID.decode(raw))
    except (ValueError, KeyError, InvalidCidError) as exc:
        raise UnsupportedContentError(f"unusable CID in a dag-pb link: {exc}") from exc
