"""Byte-exact dag-pb (PBNode/PBLink) and UnixFS ``Data`` protobuf encodings.

The schemas (proto2) are tiny, so they are written out here rather than generated::

    message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
    message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
    message Data {                       // UnixFS
      required DataType Type = 1;        // Raw=0 Directory=1 File=2 Metadata=3 Symlink=4 HAMT=5
      optional bytes Data = 2;
      optional uint64 filesize = 3;
      repeated uint64 blocksizes = 4;    // not packed
      ...
    }

Canonical dag-pb puts every ``Links`` entry (field 2) *before* ``Data`` (field 1), and kubo
writes ``Name`` even when empty (``12 00``); CIDs depend on both, so the encoder does exactly
that. Link order is never sorted for files: it is chunk order.

Decoding accepts any valid protobuf (unknown fields skipped) and raises
:class:`UnsupportedContentError` for malformed input: blocks may come from anyone, and an
authentic hash says nothing about well-formedness.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from storage.errors import UnsupportedContentError

UNIXFS_RAW = 0
UNIXFS_FILE = 2

_VARINT = 0
_LEN = 2


@dataclass(frozen=True, slots=True)
class PBLink:
    """One dag-pb link: the child's binary CID, its name and its cumulative DAG size."""

    hash: bytes
    tsize: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PBNode:
    """A decoded dag-pb node."""

    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    """A decoded UnixFS ``Data`` message (only the fields a file needs)."""

    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf writes ``uint64``."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, _LEN) + encode_varint(len(payload)) + payload


def encode_node(links: Sequence[PBLink], data: bytes | None) -> bytes:
    """Encode a PBNode in canonical dag-pb form (links first, then data)."""
    parts: list[bytes] = []
    for link in links:
        body = (
            _len_field(1, link.hash)
            + _len_field(2, link.name.encode())
            + _key(3, _VARINT)
            + encode_varint(link.tsize)
        )
        parts.append(_len_field(2, body))
    if data is not None:
        parts.append(_len_field(1, data))
    return b"".join(parts)


def encode_unixfs(
    type_: int, data: bytes | None, filesize: int, blocksizes: Sequence[int] = ()
) -> bytes:
    """Encode a UnixFS ``Data`` message in kubo's field order (1, 2, 3, 4...)."""
    out = _key(1, _VARINT) + encode_varint(type_)
    if data is not None:
        out += _len_field(2, data)
    out += _key(3, _VARINT) + encode_varint(filesize)
    for size in blocksizes:
        out += _key(4, _VARINT) + encode_varint(size)
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(buf):
            raise UnsupportedContentError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >= 1 << 64:
                raise UnsupportedContentError("varint overflows uint64")
            return value, pos
    raise UnsupportedContentError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value): ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield field, value
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise UnsupportedContentError("truncated length-delimited field")
            yield field, buf[pos : pos + length]
            pos += length
        else:  # fixed32/fixed64/groups never appear in dag-pb or UnixFS
            raise UnsupportedContentError(f"unexpected protobuf wire type {wire_type}")


def _expect_bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise UnsupportedContentError("expected a length-delimited field")
    return value


def _expect_int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise UnsupportedContentError("expected a varint field")
    return value


def _decode_link(buf: bytes) -> PBLink:
    hash_, name, tsize = b"", "", 0
    for field, value in _fields(buf):
        if field == 1:
            hash_ = _expect_bytes(value)
        elif field == 2:
            try:
                name = _expect_bytes(value).decode()
            except UnicodeDecodeError as exc:
                raise UnsupportedContentError("link name is not UTF-8") from exc
        elif field == 3:
            tsize = _expect_int(value)
    if not hash_:
        raise UnsupportedContentError("link without a hash")
    return PBLink(hash=hash_, tsize=tsize, name=name)


def decode_node(block: bytes) -> PBNode:
    """Decode a dag-pb block."""
    links: list[PBLink] = []
    data: bytes | None = None
    for field, value in _fields(block):
        if field == 2:
            links.append(_decode_link(_expect_bytes(value)))
        elif field == 1:
            data = _expect_bytes(value)
    return PBNode(links=tuple(links), data=data)


def decode_unixfs(buf: bytes) -> UnixFSData:
    """Decode a UnixFS ``Data`` message."""
    type_: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    for field, value in _fields(buf):
        if field == 1:
            type_ = _expect_int(value)
        elif field == 2:
            data = _expect_bytes(value)
        elif field == 3:
            filesize = _expect_int(value)
        elif field == 4 and isinstance(value, bytes):  # tolerate packed encoders
            pos = 0
            while pos < len(value):
                size, pos = _read_varint(value, pos)
                blocksizes.append(size)
        elif field == 4:
            blocksizes.append(_expect_int(value))
    if type_ is None:
        raise UnsupportedContentError("UnixFS data without a type")
    return UnixFSData(type=type_, data=data, filesize=filesize, blocksizes=tuple(blocksizes))
