"""Streaming encryption envelope for paid datasets (AES-256-GCM per chunk).

Each envelope has its own random 32-byte data key, wrapped by a platform key
(:class:`~storage.keyring.KeyRing`). Plaintext is cut into ``chunk_size`` chunks, each sealed
separately, so 2 GB never sits in memory and nothing unauthenticated is ever released.

Format, version 1 (integers big-endian)::

    offset  size  field
    0       4     magic  b"DCEV"
    4       1     version = 1
    5       4     chunk_size: plaintext bytes per chunk (1 .. 16 MiB)
    9       8     nonce_prefix: random
    17      1     n = length of key_id
    18      n     key_id: platform key id, printable ASCII
    18+n    2     m = length of wrapped_key
    20+n    m     wrapped_key: KeyRing.wrap(data key) (nonce || ciphertext || tag, 60 bytes)
    20+n+m  ...   frames: AES-256-GCM(chunk i) || tag (16); every frame but the last holds
                  exactly chunk_size plaintext bytes; the last holds 0..chunk_size (an empty
                  plaintext is one empty final frame)

Chunk ``i`` (0-based, < 2**32) is sealed with nonce ``nonce_prefix || uint32(i)`` (unique
per key: the data key is never reused) and associated data
``magic || version || chunk_size || nonce_prefix || uint64(i) || final`` where ``final`` is
1 for the last frame and 0 otherwise. So reordered frames fail (index), a stream cut at a
frame boundary fails (its new last frame was sealed with final=0), and appended frames fail
(the old last frame was sealed final=1). The key id and wrapped key are deliberately *not*
in the associated data: :func:`rewrap` swaps them without touching the frames.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import DecryptionError, EnvelopeError
from storage.importer import rechunk
from storage.keyring import KeyRing, check_key_id, generate_key

MAGIC = b"DCEV"
VERSION = 1
DEFAULT_CHUNK_SIZE = 262_144
MAX_CHUNK_SIZE = 16 << 20
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 8
MAX_CHUNKS = 1 << 32
_FIXED = struct.Struct(">4sBI8sB")  # magic, version, chunk_size, nonce_prefix, len(key_id)
_MAX_HEADER = _FIXED.size + 255 + 2 + 1024


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """The parsed header of an envelope (see the module docstring for the layout)."""

    key_id: str
    wrapped_key: bytes
    nonce_prefix: bytes
    chunk_size: int
    version: int = VERSION

    def encode(self) -> bytes:
        """The header bytes."""
        key_id = check_key_id(self.key_id)
        fixed = _FIXED.pack(MAGIC, self.version, self.chunk_size, self.nonce_prefix, len(key_id))
        return fixed + key_id + struct.pack(">H", len(self.wrapped_key)) + self.wrapped_key

    @classmethod
    def decode(cls, buf: bytes | bytearray) -> tuple[EnvelopeHeader, int] | None:
        """Parse a header from the start of ``buf``: (header, its length), or None if short."""
        if len(buf) < _FIXED.size:
            return None
        magic, version, chunk_size, prefix, id_len = _FIXED.unpack_from(buf)
        if magic != MAGIC:
            raise EnvelopeError("not an encryption envelope (bad magic)")
        if version != VERSION:
            raise EnvelopeError(f"unsupported envelope version {version}")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise EnvelopeError(f"invalid chunk size {chunk_size}")
        pos = _FIXED.size + id_len
        if len(buf) < pos + 2:
            return None
        (wrap_len,) = struct.unpack_from(">H", buf, pos)
        end = pos + 2 + wrap_len
        if len(buf) < end:
            return None
        key_id = bytes(buf[_FIXED.size : pos]).decode("ascii", errors="replace")
        check_key_id(key_id)
        wrapped = bytes(buf[pos + 2 : end])
        return cls(key_id, wrapped, prefix, chunk_size, version), end

    def associated_data(self, index: int, final: bool) -> bytes:
        """What chunk ``index`` is bound to (everything but the key wrapping)."""
        fixed = struct.pack(">4sBI8s", MAGIC, self.version, self.chunk_size, self.nonce_prefix)
        return fixed + struct.pack(">QB", index, final)

    def nonce(self, index: int) -> bytes:
        """The 12-byte GCM nonce of chunk ``index``."""
        if index >= MAX_CHUNKS:
            raise EnvelopeError("envelope exceeds 2**32 chunks")
        return self.nonce_prefix + struct.pack(">I", index)


def encrypt(
    plaintext: Iterable[bytes], keyring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield the envelope of ``plaintext``: the header, then one frame per chunk."""
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise EnvelopeError(f"invalid chunk size {chunk_size}")
    data_key = generate_key()
    key_id, wrapped = keyring.wrap(data_key)
    header = EnvelopeHeader(key_id, wrapped, os.urandom(NONCE_PREFIX_SIZE), chunk_size)
    yield header.encode()
    aead = AESGCM(data_key)
    index = 0
    pending: bytes | None = None  # one chunk of lookahead: only the last is sealed as final
    for chunk in rechunk(plaintext, chunk_size):
        if pending is not None:
            yield _seal(aead, header, index, pending, final=False)
            index += 1
        pending = chunk
    yield _seal(aead, header, index, pending or b"", final=True)


def decrypt(envelope: Iterable[bytes], keyring: KeyRing) -> Iterator[bytes]:
    """Yield the plaintext of an envelope, each chunk only after it authenticated.

    Raises :class:`DecryptionError` for a wrong key and for tampered, truncated, extended or
    reordered frames (possibly after earlier, authentic chunks were yielded).
    """
    pieces = iter(envelope)
    header, buf = read_header(pieces)
    aead = AESGCM(keyring.unwrap(header.key_id, header.wrapped_key))
    frame = header.chunk_size + TAG_SIZE
    index = 0
    for piece in itertools.chain((b"",), pieces):  # b"": first frame bytes came with the header
        buf += piece
        # Only a frame followed by more bytes is known not to be the last one.
        while len(buf) > frame:
            yield _open(aead, header, index, bytes(buf[:frame]), final=False)
            del buf[:frame]
            index += 1
    if len(buf) < TAG_SIZE:
        raise DecryptionError("envelope truncated: last frame is incomplete")
    yield _open(aead, header, index, bytes(buf), final=True)


def read_header(pieces: Iterator[bytes]) -> tuple[EnvelopeHeader, bytearray]:
    """Consume the header from ``pieces``; return it and the bytes read past it."""
    buf = bytearray()
    while (parsed := EnvelopeHeader.decode(buf)) is None:
        if len(buf) > _MAX_HEADER:
            raise EnvelopeError("envelope header too long")
        piece = next(pieces, None)
        if piece is None:
            raise EnvelopeError("envelope truncated inside its header")
        buf += piece
    header, length = parsed
    del buf[:length]
    return header, buf


def rewrap(envelope_header: bytes, keyring: KeyRing, new_key_id: str | None = None) -> bytes:
    """A new header whose data key is wrapped under ``new_key_id`` (default: current key).

    Frames are untouched: the new header followed by the old frames is a valid envelope.
    ``envelope_header`` may be followed by frame bytes; only the header is returned.
    """
    parsed = EnvelopeHeader.decode(envelope_header)
    if parsed is None:
        raise EnvelopeError("incomplete envelope header")
    header = parsed[0]
    data_key = keyring.unwrap(header.key_id, header.wrapped_key)
    key_id, wrapped = keyring.wrap(data_key, new_key_id or keyring.current_key_id)
    return EnvelopeHeader(key_id, wrapped, header.nonce_prefix, header.chunk_size).encode()


def rewrap_stream(
    envelope: Iterable[bytes], keyring: KeyRing, new_key_id: str | None = None
) -> Iterator[bytes]:
    """Re-emit a whole envelope with its key rewrapped (frames copied, not decrypted)."""
    pieces = iter(envelope)
    header, rest = read_header(pieces)
    yield rewrap(header.encode(), keyring, new_key_id)
    if rest:
        yield bytes(rest)
    yield from pieces


def _seal(aead: AESGCM, header: EnvelopeHeader, index: int, chunk: bytes, *, final: bool) -> bytes:
    return aead.encrypt(header.nonce(index), chunk, header.associated_data(index, final))


def _open(aead: AESGCM, header: EnvelopeHeader, index: int, frame: bytes, *, final: bool) -> bytes:
    try:
        return aead.decrypt(header.nonce(index), frame, header.associated_data(index, final))
    except InvalidTag:
        raise DecryptionError(f"envelope chunk {index} failed authentication") from None
