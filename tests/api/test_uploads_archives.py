"""Image classification archives through POST /uploads: an honest one is profiled (classes,
counts, sizes; thumbnails as the preview); every hostile one is refused with a 4xx and its
``upload.archive.*`` code, and nothing is stored (the block store compared before and
after, as for hostile tables)."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from common.sample_data import bar_image, bars_archive
from storage.blockstore import EmbeddedBlockStore
from tests.api.conftest import World
from tests.api.test_uploads import FORM
from tests.api.test_uploads_hostile import nothing_stored, provider

__all__ = ["nothing_stored", "provider"]  # fixtures shared with the table uploads' tests
MIB = 2**20


def png() -> bytes:
    import random

    return bar_image("vertical", 8, random.Random(1))


def zip_of(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a duplicate name, written on purpose
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in entries:
                archive.writestr(info, data)
    return out.getvalue()


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def classes(*extra: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    """Two honest class folders, plus `extra` entries."""
    return zip_of(("a/1.png", png()), ("b/1.png", png()), *extra)


def symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def with_encrypted_member(data: bytes, name: str) -> bytes:
    """`data` (a ZIP) with `name`'s "encrypted" flag set in the central directory (Python's
    zipfile writes no encrypted members; readers go by that flag)."""
    entry = data.index(b"PK\x01\x02")
    while True:
        size = struct.unpack("<H", data[entry + 28 : entry + 30])[0]
        if data[entry + 46 : entry + 46 + size] == name.encode():
            flags = struct.unpack("<H", data[entry + 8 : entry + 10])[0] | 0x1
            return data[: entry + 8] + struct.pack("<H", flags) + data[entry + 10 :]
        entry = data.index(b"PK\x01\x02", entry + 4)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")
    return out.getvalue()


def many_members() -> bytes:
    return zip_of(*[(f"a/{i}.png", b"") for i in range(10_001)])


HOSTILE: dict[str, tuple[str, Callable[[], bytes], int, str]] = {
    "zip path traversal": (
        "x.zip",
        lambda: classes(("../evil.png", png())),
        400,
        "upload.archive.path_traversal",
    ),
    "zip absolute path": (
        "x.zip",
        lambda: classes(("/etc/evil.png", png())),
        400,
        "upload.archive.path_traversal",
    ),
    "zip windows traversal": (
        "x.zip",
        lambda: classes(("a\\..\\..\\evil.png", png())),
        400,
        "upload.archive.path_traversal",
    ),
    "tar path traversal": (
        "x.tar",
        lambda: tar_of((tar_member("a/1.png"), png()), (tar_member("../../evil.png"), png())),
        400,
        "upload.archive.path_traversal",
    ),
    "zip symlink": (
        "x.zip",
        lambda: classes((symlink("a/link.png", "/etc/passwd"), b"/etc/passwd")),
        400,
        "upload.archive.link",
    ),
    "tar symlink": (
        "x.tar",
        lambda: tar_of(
            (tar_member("a/1.png"), png()),
            (tar_member("a/2.png", tarfile.SYMTYPE, "/etc/passwd"), b""),
        ),
        400,
        "upload.archive.link",
    ),
    "tar hard link": (
        "x.tar",
        lambda: tar_of(
            (tar_member("a/1.png"), png()),
            (tar_member("b/1.png", tarfile.LNKTYPE, "/etc/passwd"), b""),
        ),
        400,
        "upload.archive.link",
    ),
    "tar fifo": (
        "x.tar",
        lambda: tar_of((tar_member("a/1.png"), png()), (tar_member("a/p", tarfile.FIFOTYPE), b"")),
        400,
        "upload.archive.special_file",
    ),
    "zip encrypted member": (
        "x.zip",
        lambda: with_encrypted_member(classes(("a/2.png", png())), "a/2.png"),
        400,
        "upload.archive.encrypted",
    ),
    "zip duplicate name": (
        "x.zip",
        lambda: classes(("a/1.png", png())),
        400,
        "upload.archive.duplicate",
    ),
    "zip bomb: 12 MiB of zeros deflated ~1000-fold": (
        "x.zip",
        lambda: classes(("a/zeros.png", b"\0" * (12 * MIB))),
        413,
        "upload.archive.bomb",
    ),
    "zip member past the size limit": (
        "x.zip",
        lambda: classes(("a/big.png", b"\0" * (20 * MIB))),
        413,
        "upload.archive.too_large",
    ),
    "zip with too many members": ("x.zip", many_members, 413, "upload.archive.too_many"),
    "image declaring 100000 x 100000 pixels": (
        "x.zip",
        lambda: classes(("a/bomb.png", png_claiming(100_000, 100_000))),
        413,
        "upload.archive.image_too_large",
    ),
    "image over the side limit": (
        "x.zip",
        lambda: classes(("a/wide.png", png_claiming(4096, 1))),
        413,
        "upload.archive.image_too_large",
    ),
    "not an image": (
        "x.zip",
        lambda: classes(("a/2.png", b"definitely not a picture")),
        400,
        "upload.archive.image_invalid",
    ),
    "truncated image": (
        "x.zip",
        lambda: classes(("a/2.png", png()[:60])),
        400,
        "upload.archive.image_invalid",
    ),
    "GIF named .png": (
        "x.zip",
        lambda: classes(("a/2.png", gif())),
        400,
        "upload.archive.image_format",
    ),
    "no images": ("x.zip", lambda: zip_of(("README.txt", b"hi")), 400, "upload.archive.no_images"),
    "image outside a class folder": (
        "x.zip",
        lambda: classes(("loose.png", png())),
        400,
        "upload.archive.layout",
    ),
    "labels.csv leaving an image unlabelled": (
        "x.zip",
        lambda: zip_of(
            ("1.png", png()), ("2.png", png()), ("labels.csv", b"filename,label\n1.png,a\n")
        ),
        400,
        "upload.archive.labels",
    ),
    "labels.csv naming a missing image": (
        "x.zip",
        lambda: zip_of(("1.png", png()), ("labels.csv", b"filename,label\n1.png,a\n9.png,b\n")),
        400,
        "upload.archive.labels",
    ),
    "CSV named .zip": ("x.zip", lambda: b"a,b\n1,2\n", 400, "upload.archive.invalid"),
    "corrupt zip": ("x.zip", lambda: b"PK\x03\x04" + b"\xff" * 200, 400, "upload.archive.invalid"),
}


@pytest.mark.parametrize("filename,make,status,code", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_archives_are_refused_with_their_code(
    client: TestClient,
    provider: dict[str, str],
    filename: str,
    make: Callable[[], bytes],
    status: int,
    code: str,
    nothing_stored: None,
) -> None:
    data = make()
    assert len(data) < 2 * MIB  # under the upload limit: the archive's contents are at fault
    reply = client.post("/uploads", data=FORM, files={"file": (filename, data)}, headers=provider)
    assert reply.status_code == status, reply.text
    problem = reply.json()
    assert problem["code"] == code and problem["detail"], problem


def _stored(world: World, cid: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(
        b"".join(EmbeddedBlockStore(world.settings.blocks_dir).get(cid))
    )
    return doc


@pytest.mark.parametrize(
    "filename,data",
    [
        ("bars.zip", bars_archive(per_class=3)),
        ("bars.tar", bars_archive("tar", per_class=3)),
        ("labelled.zip", bars_archive(per_class=3, labels_csv=True)),
    ],
    ids=["zip of class folders", "tar of class folders", "zip with labels.csv"],
)
def test_an_image_archive_is_profiled_with_thumbnails(
    client: TestClient, world: World, provider: dict[str, str], filename: str, data: bytes
) -> None:
    form = {**FORM, "preview_rows": "4"}
    reply = client.post("/uploads", data=form, files={"file": (filename, data)}, headers=provider)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["rows"] == 6
    assert [(c["name"], c["type"]) for c in body["columns"]] == [
        ("image", "image"),
        ("label", "string"),
    ]
    doc = _stored(world, body["metadata_cid"])
    assert doc["format"] == filename.rsplit(".", 1)[1]
    images = doc["images"]
    assert images["classes"] == [
        {"label": "horizontal", "count": 3},
        {"label": "vertical", "count": 3},
    ]
    assert images["width"] == {"min": 8, "max": 8, "mean": 8.0} and images["formats"] == {"PNG": 6}
    preview = _stored(world, doc["preview_cid"])
    assert preview["columns"] == ["file", "label", "width", "height", "thumbnail"]
    labels = [row[1] for row in preview["rows"]]
    assert sorted(labels) == ["horizontal"] * 2 + ["vertical"] * 2  # the classes in turn
    assert all(row[4].startswith("data:image/png;base64,") for row in preview["rows"])


def test_a_text_dataset_profiles_lengths_and_labels(
    client: TestClient, world: World, provider: dict[str, str]
) -> None:
    from common.sample_data import reviews

    data = reviews(20)
    reply = client.post("/uploads", data=FORM, files={"file": ("r.jsonl", data)}, headers=provider)
    assert reply.status_code == 201, reply.text
    text, label = reply.json()["columns"]
    lines = [orjson.loads(line) for line in data.splitlines()]
    lengths = [len(line["text"]) for line in lines]
    assert text["lengths"]["min"] == min(lengths) and text["lengths"]["max"] == max(lengths)
    assert sum(text["lengths"]["histogram"]["counts"]) == 20
    assert {v["value"]: v["count"] for v in label["top"]} == {"positive": 10, "negative": 10}
