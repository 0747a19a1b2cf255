"""Content-addressed storage: kubo-compatible CIDs, an embedded block store, a Kubo RPC
client and the encryption envelope for paid datasets.

Public API: :class:`BlobStore` / :class:`PutResult` (:mod:`storage.base`),
:class:`EmbeddedBlockStore`, :class:`KuboClient`, :func:`compute_cid`, and
:mod:`storage.envelope` with :class:`KeyRing`.
"""

from __future__ import annotations

from storage.base import BlobStore, PutResult
from storage.blockstore import EmbeddedBlockStore
from storage.envelope import EnvelopeHeader, decrypt, encrypt, rewrap, rewrap_stream
from storage.errors import (
    BlockNotFoundError,
    ContentMismatchError,
    DecryptionError,
    EnvelopeError,
    InvalidCidError,
    KuboRequestError,
    KuboUnavailableError,
    UnknownKeyError,
    UnsupportedContentError,
)
from storage.importer import compute_cid
from storage.keyring import KeyRing, generate_key
from storage.kubo import KuboClient

__all__ = [
    "BlobStore",
    "BlockNotFoundError",
    "ContentMismatchError",
    "DecryptionError",
    "EmbeddedBlockStore",
    "EnvelopeError",
    "EnvelopeHeader",
    "InvalidCidError",
    "KeyRing",
    "KuboClient",
    "KuboRequestError",
    "KuboUnavailableError",
    "PutResult",
    "UnknownKeyError",
    "UnsupportedContentError",
    "compute_cid",
    "decrypt",
    "encrypt",
    "generate_key",
    "rewrap",
    "rewrap_stream",
]
