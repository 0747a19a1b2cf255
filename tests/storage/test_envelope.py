"""The encryption envelope: round trips, and every kind of tampering is detected."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import pytest

from storage.blockstore import EmbeddedBlockStore
from storage.envelope import (
    MAGIC,
    TAG_SIZE,
    EnvelopeHeader,
    decrypt,
    encrypt,
    read_header,
    rewrap,
    rewrap_stream,
)
from storage.errors import DecryptionError, EnvelopeError, UnknownKeyError
from storage.keyring import KeyRing, generate_key
from tests.storage.conftest import counter_bytes

CHUNK = 1024  # small chunks: many frames from little data


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1")


def _seal(data: bytes, ring: KeyRing, chunk_size: int = CHUNK) -> bytes:
    return b"".join(encrypt([data], ring, chunk_size=chunk_size))


def _open(envelope: Iterable[bytes], ring: KeyRing) -> bytes:
    return b"".join(decrypt(envelope, ring))


def _split(envelope: bytes) -> tuple[bytes, list[bytes]]:
    """(header bytes, frames) of an envelope made with chunk size CHUNK."""
    _, length = EnvelopeHeader.decode(envelope) or (None, 0)
    body = envelope[length:]
    frame = CHUNK + TAG_SIZE
    return envelope[:length], [body[i : i + frame] for i in range(0, len(body), frame)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 5])
def test_round_trip(ring: KeyRing, size: int) -> None:
    # Given plaintext of various sizes, fed in odd pieces
    data = counter_bytes(size)
    pieces = [data[i : i + 333] for i in range(0, len(data), 333)]
    # When encrypted and decrypted
    envelope = b"".join(encrypt(pieces, ring, chunk_size=CHUNK))
    # Then the plaintext comes back and the ciphertext does not contain it
    assert _open([envelope], ring) == data
    assert len(envelope) > size
    if size >= 64:
        assert data[:64] not in envelope


def test_frame_count_and_empty_plaintext(ring: KeyRing) -> None:
    # An exact multiple of the chunk size has no empty trailing frame; empty input has one
    _, frames = _split(_seal(counter_bytes(3 * CHUNK), ring))
    assert [len(f) for f in frames] == [CHUNK + TAG_SIZE] * 3
    _, frames = _split(_seal(b"", ring))
    assert [len(f) for f in frames] == [TAG_SIZE]


def test_default_chunk_size_round_trip_in_pieces(ring: KeyRing) -> None:
    data = counter_bytes(3 * 262_144 + 10)
    envelope = list(encrypt([data], ring))
    # ciphertext delivered in tiny pieces still decrypts
    flat = b"".join(envelope)
    assert _open((flat[i : i + 1000] for i in range(0, len(flat), 1000)), ring) == data


def test_header_layout_matches_the_documented_format(ring: KeyRing) -> None:
    envelope = _seal(b"x", ring)
    assert envelope[:4] == MAGIC
    assert envelope[4] == 1
    assert struct.unpack(">I", envelope[5:9])[0] == CHUNK
    assert envelope[17] == len(b"k1") and envelope[18:20] == b"k1"
    wrap_len = struct.unpack(">H", envelope[20:22])[0]
    assert wrap_len == 60  # nonce 12 + key 32 + tag 16
    header, length = EnvelopeHeader.decode(envelope) or (None, 0)
    assert header is not None and header.key_id == "k1" and length == 22 + wrap_len


def test_wrong_key_is_refused(ring: KeyRing) -> None:
    # Given an envelope and a ring whose key "k1" is a different key
    envelope = _seal(b"secret", ring)
    impostor = KeyRing({"k1": generate_key()}, "k1")
    with pytest.raises(DecryptionError):
        _open([envelope], impostor)


def test_unknown_key_id_is_refused(ring: KeyRing) -> None:
    envelope = _seal(b"secret", ring)
    with pytest.raises(UnknownKeyError):
        _open([envelope], KeyRing({"k2": generate_key()}, "k2"))


def test_tampered_chunk_is_refused_after_authentic_ones(ring: KeyRing) -> None:
    # Given a 3-frame envelope whose second frame has one flipped bit
    header, frames = _split(_seal(counter_bytes(3 * CHUNK), ring))
    bad = bytearray(frames[1])
    bad[10] ^= 0x01
    out = decrypt([header, frames[0], bytes(bad), frames[2]], ring)
    # Then the first chunk is released and the second is refused
    assert next(out) == counter_bytes(CHUNK)
    with pytest.raises(DecryptionError, match="chunk 1"):
        next(out)


def test_truncation_at_a_frame_boundary_is_detected(ring: KeyRing) -> None:
    header, frames = _split(_seal(counter_bytes(3 * CHUNK), ring))
    with pytest.raises(DecryptionError):
        _open([header, *frames[:2]], ring)


def test_truncation_inside_a_frame_or_header_is_detected(ring: KeyRing) -> None:
    envelope = _seal(counter_bytes(3 * CHUNK), ring)
    with pytest.raises(DecryptionError):
        _open([envelope[:-5]], ring)
    header, _ = _split(envelope)
    with pytest.raises(DecryptionError):
        _open([header + b"\x00" * 3], ring)  # less than a tag
    with pytest.raises(EnvelopeError):
        _open([header[:-1]], ring)


def test_reordered_chunks_are_detected(ring: KeyRing) -> None:
    header, frames = _split(_seal(counter_bytes(3 * CHUNK), ring))
    with pytest.raises(DecryptionError):
        _open([header, frames[1], frames[0], frames[2]], ring)


def test_appended_frame_is_detected(ring: KeyRing) -> None:
    # The old last frame was sealed as final: anything after it fails
    header, frames = _split(_seal(counter_bytes(2 * CHUNK + 1), ring))
    with pytest.raises(DecryptionError):
        _open([header, *frames, frames[0]], ring)


def test_frames_cannot_move_between_envelopes(ring: KeyRing) -> None:
    data = counter_bytes(2 * CHUNK)
    header_a, frames_a = _split(_seal(data, ring))
    _, frames_b = _split(_seal(data, ring))
    with pytest.raises(DecryptionError):
        _open([header_a, frames_b[0], frames_a[1]], ring)


def test_header_fields_are_authenticated(ring: KeyRing) -> None:
    # Changing the nonce prefix (offset 9..17) makes every frame fail
    envelope = bytearray(_seal(counter_bytes(CHUNK), ring))
    envelope[12] ^= 0x01
    with pytest.raises(DecryptionError):
        _open([bytes(envelope)], ring)


def test_malformed_headers(ring: KeyRing) -> None:
    envelope = _seal(b"x", ring)
    with pytest.raises(EnvelopeError, match="magic"):
        _open([b"XXXX" + envelope[4:]], ring)
    with pytest.raises(EnvelopeError, match="version"):
        _open([envelope[:4] + b"\x02" + envelope[5:]], ring)
    with pytest.raises(EnvelopeError, match="chunk size"):
        _open([envelope[:5] + b"\x00\x00\x00\x00" + envelope[9:]], ring)
    with pytest.raises(EnvelopeError):
        _open([b""], ring)


def test_key_rotation_with_rewrap() -> None:
    # Given an envelope under k1, and a rotation that adds k2 as the current key
    k1, k2 = generate_key(), generate_key()
    data = counter_bytes(3 * CHUNK + 7)
    envelope = _seal(data, KeyRing({"k1": k1}, "k1"))
    rotated = KeyRing({"k1": k1, "k2": k2}, "k2")
    # When the header is rewrapped under k2
    header, frames = _split(envelope)
    new_header = rewrap(header, rotated, "k2")
    # Then the new header names k2, the frames are unchanged, and k1 can be retired
    parsed, _ = EnvelopeHeader.decode(new_header) or (None, 0)
    assert parsed is not None and parsed.key_id == "k2"
    k2_only = KeyRing({"k2": k2}, "k2")
    assert _open([new_header, *frames], k2_only) == data
    with pytest.raises(UnknownKeyError):
        _open([envelope], k2_only)
    # And rewrapping a whole stream (default: the current key) gives the same result
    assert _open(rewrap_stream([envelope], rotated), k2_only) == data
    # And new envelopes use the current key id
    fresh, _ = _split(_seal(b"new", rotated))
    assert (EnvelopeHeader.decode(fresh) or (None, 0))[0].key_id == "k2"  # type: ignore[union-attr]


def test_wrapped_key_cannot_be_relabelled() -> None:
    # Given two key ids holding the SAME key, a wrap under k1 relabelled as k2 fails
    key = generate_key()
    ring = KeyRing({"k1": key, "k2": key}, "k1")
    header, _ = read_header(iter([_seal(b"x", ring)]))
    relabelled = EnvelopeHeader("k2", header.wrapped_key, header.nonce_prefix, header.chunk_size)
    with pytest.raises(DecryptionError):
        rewrap(relabelled.encode(), ring, "k1")


def test_key_ring_validation() -> None:
    with pytest.raises(EnvelopeError):
        KeyRing({"k1": b"short"}, "k1")
    with pytest.raises(UnknownKeyError):
        KeyRing({"k1": generate_key()}, "k9")
    with pytest.raises(EnvelopeError):
        KeyRing({"bad id\n": generate_key()}, "bad id\n")
    with pytest.raises(EnvelopeError):
        KeyRing({"": generate_key()}, "")


def test_paid_dataset_is_stored_encrypted_and_streams_back(tmp_path: Path, ring: KeyRing) -> None:
    # Given a dataset encrypted on its way into the store (the caller decides to encrypt)
    blobs = EmbeddedBlockStore(tmp_path)
    data = counter_bytes(3 * 262_144 + 99)
    result = blobs.put(encrypt((data[i : i + 65_536] for i in range(0, len(data), 65_536)), ring))
    # Then the stored blocks hold no plaintext, and get -> decrypt gives the dataset back
    stored = b"".join(p.read_bytes() for p in (tmp_path / "blocks").rglob("*") if p.is_file())
    assert data[:4096] not in stored
    assert b"".join(decrypt(blobs.get(result.cid), ring)) == data
