"""Import a byte stream as a UnixFS file DAG with kubo's default layout, incrementally.

kubo ``ipfs add`` (balanced layout, ``size-262144`` chunker, at most 174 links per node):

* ``--cid-version=1`` implies raw leaves: each chunk is a ``raw`` block; a one-chunk file
  is just that raw leaf (``bafkrei...``); an empty file is the empty raw leaf.
* plain ``ipfs add`` (CIDv0): each chunk is a dag-pb leaf wrapping UnixFS ``File`` data.

kubo's recursive ``fillNodeRec`` builds the same tree as grouping, layer by layer, every run
of up to 174 nodes under a parent until one node is left: a last group of one still gets a
parent (175 leaves -> root with children [174 leaves], [1 leaf]), except the single top node.
So :class:`DagBuilder` keeps one list of pending links per level and flushes a level into a
parent as soon as it holds 174 links: memory is O(174 * depth) links, whatever the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from multiformats import CID

from storage.cid import DAG_PB, RAW, CidVersion, block_cid
from storage.unixfs import UNIXFS_FILE, PBLink, encode_node, encode_unixfs

CHUNK_SIZE = 262_144
MAX_LINKS = 174
_READ_SIZE = 1 << 20

BlockSink = Callable[[CID, bytes], None]
"""Receives every block once, children always before their parents."""


@dataclass(frozen=True, slots=True)
class Link:
    """A finished node: its CID, cumulative DAG size (``Tsize``) and file bytes below it."""

    cid: CID
    tsize: int
    filesize: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The root of an imported file, with the plain size and sha256 of its bytes."""

    root: Link
    size: int
    sha256: str


def _discard(_cid: CID, _block: bytes) -> None:
    return None


class DagBuilder:
    """Incremental balanced-DAG builder: feed fixed-size chunks in order, then ``finish``."""

    def __init__(
        self,
        cid_version: CidVersion = 1,
        sink: BlockSink | None = None,
        *,
        max_links: int = MAX_LINKS,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, not {cid_version!r}")
        if max_links < 2:
            raise ValueError("max_links must be at least 2")
        self._version: CidVersion = cid_version
        self._sink = sink or _discard
        self._max_links = max_links
        self._levels: list[list[Link]] = [[]]  # _levels[0]: leaves; _levels[i]: depth-i nodes
        self._chunks = 0

    def add_chunk(self, chunk: bytes) -> None:
        """Add the next chunk of the file as a leaf (every chunk but the last is full-size)."""
        self._chunks += 1
        self._push(0, self._leaf(chunk))

    def finish(self) -> Link:
        """Close every open level and return the root link. The builder is then spent."""
        if self._chunks == 0:  # kubo: an empty file is one empty leaf
            self.add_chunk(b"")
        level = 0
        while True:
            links = self._levels[level]
            above = any(self._levels[level + 1 :])
            if len(links) == 1 and not above:
                return links[0]
            if links:
                self._levels[level] = []
                self._push(level + 1, self._parent(links))
            level += 1

    def _push(self, level: int, link: Link) -> None:
        if level == len(self._levels):
            self._levels.append([])
        links = self._levels[level]
        links.append(link)
        if len(links) == self._max_links:
            # A full node can never gain children, so it is written now; whether it ends up
            # the root is decided in finish (a lone top node is not wrapped again).
            self._levels[level] = []
            self._push(level + 1, self._parent(links))

    def _emit(self, block: bytes, codec: str) -> CID:
        cid = block_cid(block, version=self._version, codec=codec)
        self._sink(cid, block)
        return cid

    def _leaf(self, chunk: bytes) -> Link:
        if self._version == 1:
            return Link(self._emit(chunk, RAW), tsize=len(chunk), filesize=len(chunk))
        # go-unixfs omits Data for the empty leaf (nil slice) but always sets filesize.
        data = encode_unixfs(UNIXFS_FILE, chunk or None, filesize=len(chunk))
        block = encode_node([], data)
        return Link(self._emit(block, DAG_PB), tsize=len(block), filesize=len(chunk))

    def _parent(self, links: list[Link]) -> Link:
        filesize = sum(link.filesize for link in links)
        data = encode_unixfs(UNIXFS_FILE, None, filesize, [link.filesize for link in links])
        block = encode_node([PBLink(bytes(link.cid), link.tsize) for link in links], data)
        tsize = len(block) + sum(link.tsize for link in links)
        return Link(self._emit(block, DAG_PB), tsize=tsize, filesize=filesize)


def iter_source(source: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """Pieces of a binary file object (read 1 MiB at a time) or of an iterable of bytes."""
    read = getattr(source, "read", None)
    if read is not None:
        while piece := read(_READ_SIZE):
            yield piece
        return
    yield from source


def rechunk(pieces: Iterable[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Regroup pieces of any size into ``size``-byte chunks (the last may be shorter)."""
    buf = bytearray()
    for piece in pieces:
        if not buf and len(piece) == size:  # common case: already aligned, no copy
            yield bytes(piece)
            continue
        buf += piece
        if len(buf) >= size:
            whole = len(buf) - len(buf) % size
            view = memoryview(buf)
            for start in range(0, whole, size):
                yield bytes(view[start : start + size])
            view.release()
            del buf[:whole]
    if buf:
        yield bytes(buf)


class FileImporter:
    """Hashes a file as its fixed-size chunks arrive: sha256, byte count and DAG together."""

    def __init__(
        self,
        cid_version: CidVersion = 1,
        sink: BlockSink | None = None,
        *,
        max_links: int = MAX_LINKS,
    ) -> None:
        self._builder = DagBuilder(cid_version, sink, max_links=max_links)
        self._digest = hashlib.sha256()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Add the next chunk (all but the last must be exactly the chunk size)."""
        self._digest.update(chunk)
        self._size += len(chunk)
        self._builder.add_chunk(chunk)

    def finish(self) -> ImportResult:
        """Close the DAG and return the root, size and sha256."""
        root = self._builder.finish()
        return ImportResult(root=root, size=self._size, sha256=self._digest.hexdigest())


def import_stream(
    source: BinaryIO | Iterable[bytes],
    cid_version: CidVersion = 1,
    sink: BlockSink | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    max_links: int = MAX_LINKS,
) -> ImportResult:
    """Chunk ``source`` and build its DAG, sending each block to ``sink`` as it is made.

    With no sink this only computes the CID (what ``ipfs add --only-hash`` does).
    """
    importer = FileImporter(cid_version, sink, max_links=max_links)
    for chunk in rechunk(iter_source(source), chunk_size):
        importer.add(chunk)
    return importer.finish()


def compute_cid(source: BinaryIO | Iterable[bytes], cid_version: CidVersion = 1) -> str:
    """The CID ``ipfs add`` gives ``source`` (``--cid-version=1`` or plain); stores nothing."""
    return str(import_stream(source, cid_version).root.cid)
