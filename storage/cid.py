"""CIDs for blocks: computing, parsing and verifying them (via the ``multiformats`` library).

Only sha2-256 multihashes are produced or accepted: it is what kubo uses by default, and a
verifier that silently accepted an unknown hash function would verify nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from multiformats import CID, multibase, multihash

from storage.errors import ContentMismatchError, InvalidCidError

RAW = "raw"
DAG_PB = "dag-pb"
SHA2_256 = 0x12

CidVersion = Literal[0, 1]


def block_cid(block: bytes, *, version: CidVersion, codec: str) -> CID:
    """The CID of ``block``: CIDv0 is base58btc dag-pb, CIDv1 is base32 (kubo's defaults)."""
    digest = multihash.wrap(hashlib.sha256(block).digest(), "sha2-256")
    if version == 0:
        if codec != DAG_PB:
            raise ValueError("CIDv0 can only name dag-pb blocks")
        return CID("base58btc", 0, DAG_PB, digest)
    return CID("base32", 1, codec, digest)


def parse_cid(value: str | CID) -> CID:
    """Parse a CID string, accepting only codecs and hashes we can verify."""
    if isinstance(value, CID):
        cid = value
    else:
        try:
            cid = CID.decode(value.strip())
        except (ValueError, KeyError) as exc:  # multiformats raises subclasses of both
            raise InvalidCidError(f"not a CID: {value!r}") from exc
    if cid.hashfun.code != SHA2_256 or len(cid.raw_digest) != 32:
        raise InvalidCidError(f"unsupported hash function {cid.hashfun.name} in {cid}")
    if cid.codec.name not in (RAW, DAG_PB):
        raise InvalidCidError(f"unsupported codec {cid.codec.name} in {cid}")
    return cid


def verify_block(cid: CID, block: bytes) -> None:
    """Raise :class:`ContentMismatchError` unless ``block`` hashes to ``cid``'s digest."""
    if not hmac.compare_digest(hashlib.sha256(block).digest(), cid.raw_digest):
        raise ContentMismatchError(f"block does not match its CID {cid}")


def block_key(cid: CID) -> str:
    """Storage key of a block: base32 of its multihash, so CIDv0/v1 of one block share it.

    Like kubo's blockstore, blocks are keyed by multihash alone; the codec lives in the CID.
    """
    return multibase.encode(cid.digest, "base32")[1:]


def canonical(cid: CID) -> str:
    """CIDv1 base32 text: one spelling per (codec, multihash), safe as a file name."""
    return str(cid.set(base="base32", version=1))
