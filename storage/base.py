"""The storage interface: one small Protocol, two backends (embedded blockstore, Kubo RPC).

Both produce the CIDs kubo's ``ipfs add`` produces (``cid_version=1``: ``--cid-version=1``
with raw leaves; ``cid_version=0``: plain ``ipfs add``), and both verify every block against
its CID while reading, so a CID handed out by either can be served by the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from storage.cid import CidVersion


@dataclass(frozen=True, slots=True)
class PutResult:
    """What ``put`` stored: the root CID (text), the plain byte size and its sha256 (hex)."""

    cid: str
    size: int
    sha256: str


class BlobStore(Protocol):
    """A content-addressed store of files (datasets, models, metadata)."""

    def put(
        self, stream: BinaryIO | Iterable[bytes], cid_version: CidVersion = 1, *, pin: bool = False
    ) -> PutResult:
        """Store the bytes of ``stream`` (read in chunks, never whole) and return its CID.

        Idempotent: the same bytes always give the same CID and store nothing new.
        """
        ...

    def get(self, cid: str) -> Iterator[bytes]:
        """Stream the file back, each block verified against its CID before it is yielded.

        Raises :class:`~storage.errors.ContentMismatchError` (while iterating) when a block
        was tampered with, and :class:`~storage.errors.BlockNotFoundError` when it is missing.
        """
        ...

    def pin(self, cid: str) -> None:
        """Keep ``cid``'s DAG from garbage collection (idempotent)."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the store holds ``cid``'s root block locally."""
        ...
