"""What training reads from and writes to the blob store: bounded documents, and the
trained model, sealed in the paid-dataset envelope and opened for its owner.

The model belongs to whoever paid for the job, so it is stored encrypted under the platform
key ring (:mod:`storage.envelope`), exactly as paid datasets are. The chain's ``modelHash``
stays the sha256 of the *plaintext* safetensors bytes: a commitment that an audit's re-run
can be compared with without the model ever being published.
"""

from __future__ import annotations

import hashlib

from common.errors import PermanentError
from storage.base import BlobStore
from storage.envelope import decrypt, encrypt
from storage.keyring import KeyRing

#: The largest model file accepted back from storage (the sandbox's output limit is lower).
MAX_MODEL_BYTES = 1 << 30


class ModelMismatchError(PermanentError):
    """The stored model does not decrypt to the bytes the chain committed to."""


def fetch_limited(store: BlobStore, cid: str, limit: int) -> bytes:
    """A whole (CID-verified) file, refusing more than `limit` bytes."""
    out = bytearray()
    for chunk in store.get(cid):
        out += chunk
        if len(out) > limit:
            raise PermanentError(f"{cid} exceeds {limit} bytes")
    return bytes(out)


def seal_model(store: BlobStore, keyring: KeyRing, model: bytes) -> str:
    """Store `model` encrypted (not pinned yet); its envelope's CID."""
    return store.put(encrypt([model], keyring)).cid


def open_model(store: BlobStore, keyring: KeyRing, cid: str, model_hash: bytes) -> bytes:
    """The plaintext model at `cid`, checked against the on-chain `model_hash` (sha256);
    ModelMismatchError when it differs, PermanentError when it exceeds MAX_MODEL_BYTES."""
    out = bytearray()
    for chunk in decrypt(store.get(cid), keyring):
        out += chunk
        if len(out) > MAX_MODEL_BYTES:
            raise PermanentError(f"the model at {cid} exceeds {MAX_MODEL_BYTES} bytes")
    if hashlib.sha256(out).digest() != model_hash:
        raise ModelMismatchError(f"the model at {cid} does not match the logged modelHash")
    return bytes(out)
