"""Embedded content-addressed block store on the local disk (the default backend).

Layout under ``root``::

    blocks/<xy>/<key>    one file per block; <key> = base32 multihash, <xy> = key[-3:-1]
    pins/<cidv1>         one empty file per pinned root

Invariants:

* A block file only ever holds the bytes that hash to its name: it is written to a temporary
  file in the same directory, flushed (fsync when ``durable``) and renamed into place, so a
  crash leaves either no file or the whole block. Rewriting an existing block is skipped
  (idempotent put).
* Children are stored before their parents, and the root last (after the directory entries
  of everything below it are synced when ``durable``): holding the root block implies
  holding the whole DAG, which is what makes ``has`` and ``pin`` O(1).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import structlog
from multiformats import CID

from storage.base import PutResult
from storage.cid import CidVersion, block_key, canonical, parse_cid
from storage.errors import BlockNotFoundError
from storage.importer import import_stream
from storage.reader import iter_file

log = structlog.get_logger(__name__)


class EmbeddedBlockStore:
    """A :class:`~storage.base.BlobStore` keeping blocks as files under ``root``."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable

    # -- BlobStore -------------------------------------------------------------------------

    def put(
        self, stream: BinaryIO | Iterable[bytes], cid_version: CidVersion = 1, *, pin: bool = False
    ) -> PutResult:
        """Chunk, hash and store ``stream`` block by block (see the module invariants)."""
        writer = _DelayedWriter(self)
        result = import_stream(stream, cid_version, writer.add)
        writer.close()
        cid = str(result.root.cid)
        if pin:
            self.pin(cid)
        log.info(
            "storage.embedded.put",
            cid=cid,
            size=result.size,
            blocks=writer.count,
            written=writer.written,
        )
        return PutResult(cid=cid, size=result.size, sha256=result.sha256)

    def get(self, cid: str) -> Iterator[bytes]:
        """Stream the file, verifying every block; a missing root raises here, at once."""
        root = parse_cid(cid)
        if not self._path(root).exists():
            raise BlockNotFoundError(f"no block for {cid}")
        return iter_file(root, self.read_block)

    def pin(self, cid: str) -> None:
        """Record a pin for ``cid`` (its root must be stored, hence its whole DAG)."""
        root = parse_cid(cid)
        if not self._path(root).exists():
            raise BlockNotFoundError(f"cannot pin {cid}: not stored")
        path = self.root / "pins" / canonical(root)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, b"", durable=self.durable)
            self.sync_dirs([path.parent])
            log.info("storage.embedded.pinned", cid=cid)

    def has(self, cid: str) -> bool:
        """Whether the root block of ``cid`` is stored."""
        return self._path(parse_cid(cid)).exists()

    # -- extras ----------------------------------------------------------------------------

    def is_pinned(self, cid: str) -> bool:
        """Whether ``cid`` (in either CID version) is pinned."""
        return (self.root / "pins" / canonical(parse_cid(cid))).exists()

    def pins(self) -> list[str]:
        """Every pinned root, as CIDv1 text."""
        pins = self.root / "pins"
        return sorted(p.name for p in pins.iterdir()) if pins.exists() else []

    def read_block(self, cid: CID) -> bytes:
        """The raw stored bytes of one block, unverified (the reader verifies)."""
        try:
            return self._path(cid).read_bytes()
        except FileNotFoundError as exc:
            raise BlockNotFoundError(f"missing block {cid}") from exc

    def put_block(self, cid: CID, block: bytes) -> bool:
        """Store one block under ``cid`` unless present; True when it was written now."""
        path = self._path(cid)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, block, durable=self.durable)
        return True

    def sync_dirs(self, dirs: Iterable[Path]) -> None:
        """fsync directories so that the renames into them survive a crash."""
        if not self.durable:
            return
        for directory in dirs:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def block_path(self, cid: CID) -> Path:
        """Where the block of ``cid`` lives (for tests and tooling)."""
        return self._path(cid)

    def _path(self, cid: CID) -> Path:
        key = block_key(cid)
        return self.root / "blocks" / key[-3:-1] / key


class _DelayedWriter:
    """Writes each block when the next one arrives; the last (the root) in ``close``.

    The importer's last block is the root, so holding one block back lets ``close`` sync the
    directories of all the others before the root appears (module invariant).
    """

    def __init__(self, blobs: EmbeddedBlockStore) -> None:
        self._blobs = blobs
        self._held: tuple[CID, bytes] | None = None
        self._dirs: set[Path] = set()
        self.count = 0
        self.written = 0

    def add(self, cid: CID, block: bytes) -> None:
        if self._held is not None:
            self._write(*self._held)
        self._held = (cid, block)
        self.count += 1

    def close(self) -> None:
        assert self._held is not None, "the importer always emits a root block"
        self._blobs.sync_dirs(self._dirs)
        cid, block = self._held
        self._dirs = set()
        self._write(cid, block)
        self._blobs.sync_dirs(self._dirs)

    def _write(self, cid: CID, block: bytes) -> None:
        if self._blobs.put_block(cid, block):
            self.written += 1
            shard = self._blobs.block_path(cid).parent
            self._dirs.update((shard, shard.parent))  # the shard dir may itself be new


def _write_atomically(path: Path, data: bytes, *, durable: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
