"""Platform key ring: wraps per-dataset data keys, rotatable by key id.

Keys are 32-byte AES-256 keys named by a key id (``{key_id: key}``). New wraps use the
current key id; unwrapping looks the key up by the id stored beside the wrapped key, so
old envelopes keep opening after a rotation until they are rewrapped (see
:func:`storage.envelope.rewrap`), after which the old key can be retired.

A wrapped key is ``nonce (12) || AES-256-GCM(data key) || tag (16)`` with the key id as
associated data, so a wrapped key cannot be relabelled with another id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import DecryptionError, EnvelopeError, UnknownKeyError

KEY_SIZE = 32
WRAP_NONCE_SIZE = 12
_WRAP_AAD = b"datacoin/envelope/key-wrap/v1\x00"


def generate_key() -> bytes:
    """A fresh random 32-byte key (platform key or data key)."""
    return os.urandom(KEY_SIZE)


def check_key_id(key_id: str) -> bytes:
    """The key id as bytes: 1..255 printable ASCII characters (it goes into headers)."""
    raw = key_id.encode("ascii", errors="replace")
    if not 1 <= len(raw) <= 255 or not key_id.isascii() or not key_id.isprintable():
        raise EnvelopeError(f"invalid key id {key_id!r}: need 1-255 printable ASCII characters")
    return raw


class KeyRing:
    """Platform keys by id; ``current_key_id`` names the one used for new wraps."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        for key_id, key in keys.items():
            check_key_id(key_id)
            if len(key) != KEY_SIZE:
                raise EnvelopeError(f"platform key {key_id!r} must be {KEY_SIZE} bytes")
        if current_key_id not in keys:
            raise UnknownKeyError(f"current key id {current_key_id!r} is not in the key ring")
        self._keys = dict(keys)
        self.current_key_id = current_key_id

    @property
    def key_ids(self) -> frozenset[str]:
        """Every key id this ring can unwrap."""
        return frozenset(self._keys)

    def wrap(self, data_key: bytes, key_id: str | None = None) -> tuple[str, bytes]:
        """Wrap ``data_key`` under ``key_id`` (default: the current key); returns (id, wrapped)."""
        key_id = key_id or self.current_key_id
        nonce = os.urandom(WRAP_NONCE_SIZE)
        sealed = AESGCM(self._key(key_id)).encrypt(
            nonce, data_key, _WRAP_AAD + check_key_id(key_id)
        )
        return key_id, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """Recover a data key; :class:`DecryptionError` if the key or the wrap is wrong."""
        key = self._key(key_id)
        nonce, sealed = wrapped[:WRAP_NONCE_SIZE], wrapped[WRAP_NONCE_SIZE:]
        try:
            return AESGCM(key).decrypt(nonce, sealed, _WRAP_AAD + check_key_id(key_id))
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                f"cannot unwrap the data key with platform key {key_id!r}"
            ) from exc

    def _key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(f"platform key {key_id!r} is not in the key ring") from None
