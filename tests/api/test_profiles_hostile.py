"""Hostile POST /profiles: images that lie about their type, are too big, or declare huge
dimensions in a tiny file (a decompression bomb); fields past their bounds; links that are
not https — each a clear 4xx naming what is wrong, with nothing stored."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import World
from tests.api.test_profiles import PROFILE, image
from tests.api.test_uploads import sign_in
from tests.api.test_uploads_hostile import nothing_stored

__all__ = ["nothing_stored"]  # the fixture, used by name
MIB = 1 << 20


@pytest.fixture(scope="module")
def headers(client: TestClient, world: World) -> dict[str, str]:
    return sign_in(client, world, 5)


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring width x height pixels, ~70 bytes in all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels): side*side*3 bytes or so."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), bytes(range(256)) * (side * side * 3 // 256 + 1)).save(
        out, "PNG", compress_level=0
    )
    return out.getvalue()


GIF = image("GIF")
AVATARS = {
    "a GIF": (GIF, 415, "avatar"),
    "HTML sent as image/png": (b"<html><script>alert(1)</script></html>", 415, "avatar"),
    "a PNG bomb (100000x100000 in ~70 bytes)": (png_bomb(100_000, 100_000), 400, "avatar"),
    "a PNG just past the pixel bound": (png_bomb(1025, 1), 400, "1025x1"),
    "a 2000x2000 PNG": (image("PNG", (2000, 2000)), 400, "avatar"),
    "a truncated PNG": (image("PNG")[:60], 400, "avatar"),
    "a JPEG header only": (b"\xff\xd8\xff\xe0" + b"\0" * 64, 400, "avatar"),
    "over 1 MiB": (noisy_png(700), 413, "avatar"),
}


@pytest.mark.parametrize("case", list(AVATARS))
def test_hostile_avatars_are_refused(
    client: TestClient, headers: dict[str, str], nothing_stored: None, case: str
) -> None:
    data, status, named = AVATARS[case]
    files = {"avatar": ("me.png", data, "image/png")}
    reply = client.post("/profiles", data=PROFILE, files=files, headers=headers)
    assert reply.status_code == status, reply.text
    assert named in reply.json()["detail"]


FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "a 65-character name": ({"display_name": "x" * 65}, "display_name"),
    "an empty name": ({"display_name": ""}, "display_name"),
    "a control character in the name": ({"display_name": "Ada\x1b[31m"}, "display_name"),
    "a 1001-character bio": ({"bio": "b" * 1001}, "bio"),
    "six links": ({"links": [f"https://example.org/{i}" for i in range(6)]}, "links"),
    "an http link": ({"links": ["http://example.org/"]}, "links.0"),
    "a javascript: link": ({"links": ["javascript:alert(1)"]}, "links.0"),
    "a link without a host": ({"links": ["https:///path"]}, "links.0"),
    "a link with spaces": ({"links": ["https://example.org/a b"]}, "links.0"),
    "links as a string": ({"links": "https://example.org/"}, "links"),
}


@pytest.mark.parametrize("case", list(FIELDS))
def test_out_of_bounds_fields_are_refused_by_name(
    client: TestClient, headers: dict[str, str], nothing_stored: None, case: str
) -> None:
    fields, named = FIELDS[case]
    avatar = base64.b64encode(image("PNG")).decode()
    reply = client.post(
        "/profiles", json={**PROFILE, **fields, "avatar_base64": avatar}, headers=headers
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["detail"].startswith(named + ":")


def test_bad_bodies_are_refused(
    client: TestClient, headers: dict[str, str], nothing_stored: None
) -> None:
    # Not signed in: 401 before the body is read
    assert client.post("/profiles", json=PROFILE).status_code == 401
    # Neither JSON nor a form
    reply = client.post("/profiles", content=b"display_name=x", headers=headers)
    assert reply.status_code == 415
    # Malformed JSON, a JSON array, bad base64, an avatar that is not a file
    for body in (b"{", b"[]"):
        sent = {**headers, "content-type": "application/json"}
        assert client.post("/profiles", content=body, headers=sent).status_code == 400
    bad64 = {**PROFILE, "avatar_base64": "not base64!"}
    assert client.post("/profiles", json=bad64, headers=headers).status_code == 400
    text_avatar = {**PROFILE, "avatar": "not a file"}
    assert client.post("/profiles", data=text_avatar, headers=headers).status_code == 400
    # A body past the bound, declared or not
    huge = {**PROFILE, "avatar_base64": base64.b64encode(b"\0" * (2 * MIB)).decode()}
    assert client.post("/profiles", json=huge, headers=headers).status_code == 413
