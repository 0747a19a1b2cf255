"""Image classification archives, read safely: a ZIP or (plain) tar of class folders
(``label/image.png``, under at most one common top folder), or of images plus a
``labels.csv`` (columns ``filename`` and ``label``, file names relative to the CSV).

Everything is checked from the archive's directory before a byte is decompressed: no
absolute paths or ``..`` (path traversal), no links (symbolic or hard), devices or FIFOs,
no encrypted members, no duplicate names, at most ``max_members`` entries, each at most
``max_member_bytes`` and all together at most ``max_total_bytes`` uncompressed, and (ZIP)
no member, nor the whole, decompressing to more than ``max_ratio`` times its compressed
size (a decompression bomb). A member is then read with a bound of its declared size.
Images: PNG, JPEG or WebP by their bytes, each side at most ``max_side`` pixels and at
most ``max_pixels`` in all (read from the header, before decoding; Pillow's own bomb
warning is an error), ``max_total_pixels`` over the archive, and fully decodable.

Used by the upload's validation and profile (api.image_profile) and, in the sandbox, by
image training jobs (the same checks again: the sandbox trusts nothing it is given).
"""

from __future__ import annotations

import csv
import io
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
LABELS_FILE = "labels.csv"
MAX_LABEL_CHARS = 128
MAX_NAME_BYTES = 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds of an image archive (see the module docstring)."""

    max_members: int = 10_000
    max_member_bytes: int = 16 << 20
    max_total_bytes: int = 512 << 20
    max_ratio: float = 200.0
    max_side: int = 1024
    max_pixels: int = 1024 * 1024
    max_total_pixels: int = 200_000_000
    max_classes: int = 1_000


class ArchiveError(ValueError):
    """Why an archive is refused: a dotted `code` (``archive.*``), the HTTP status an
    upload answers with (400, or 413 for what is too big) and a sentence."""

    def __init__(self, code: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.reason, self.status = code, reason, status


@dataclass(frozen=True)
class Member:
    """A regular file of the archive: its normalised name and declared sizes."""

    name: str
    size: int
    compressed: int


@dataclass(frozen=True)
class Item:
    """One labelled image of the archive."""

    name: str
    label: str


@dataclass(frozen=True)
class Decoded:
    """A checked, decoded image."""

    item: Item
    image: Image.Image
    format: str


def _clean_name(raw: str) -> str:
    """The member's name, refused when it could land outside the extraction directory."""
    if "\x00" in raw or len(raw.encode(errors="surrogatepass")) > MAX_NAME_BYTES:
        raise ArchiveError("archive.bad_name", f"member name {raw[:80]!r} is not acceptable")
    if raw.startswith(("/", "\\")) or "\\" in raw or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError("archive.path_traversal", f"member {raw[:200]!r}: an absolute path")
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise ArchiveError("archive.path_traversal", f"member {raw[:200]!r} climbs out with '..'")
    return "/".join(p for p in parts if p != ".")


class _Reader:
    """The members of a ZIP or tar file, checked from its directory (see the module)."""

    def __init__(self, path: Path, fmt: str, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.members: dict[str, Member] = {}
        self._total = self._packed = 0  # declared bytes, uncompressed and compressed
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        try:
            if fmt == "zip":
                self._zip = zipfile.ZipFile(path)
                self._index_zip(self._zip)
            elif fmt == "tar":
                self._tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by close())
                self._index_tar(self._tar)
            else:
                raise ArchiveError("archive.format", f"not an archive format: {fmt!r}")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            self.close()
            raise ArchiveError("archive.invalid", f"not a readable {fmt} file: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _add(self, raw: str, size: int, compressed: int) -> None:
        lim = self.limits
        name = _clean_name(raw)
        if name in self.members:
            raise ArchiveError("archive.duplicate", f"member {name!r} appears twice")
        if len(self.members) >= lim.max_members:
            raise ArchiveError("archive.too_many", f"more than {lim.max_members} files", 413)
        if size > lim.max_member_bytes:
            detail = f"member {name!r} is {size} bytes: the limit is {lim.max_member_bytes}"
            raise ArchiveError("archive.too_large", detail, 413)
        if size > lim.max_ratio * max(compressed, 1) and size > 1 << 20:
            detail = f"member {name!r} decompresses {size // max(compressed, 1)}-fold"
            raise ArchiveError("archive.bomb", detail + f" (limit {lim.max_ratio:g})", 413)
        self.members[name] = Member(name, size, compressed)
        self._total += size
        self._packed += compressed
        total, packed = self._total, self._packed
        if total > lim.max_total_bytes:
            detail = f"the archive decompresses to more than {lim.max_total_bytes} bytes"
            raise ArchiveError("archive.too_large", detail, 413)
        if total > lim.max_ratio * max(packed, 1) and total > 1 << 20:
            detail = f"the archive decompresses {total // max(packed, 1)}-fold"
            raise ArchiveError("archive.bomb", detail + f" (limit {lim.max_ratio:g})", 413)

    def _index_zip(self, archive: zipfile.ZipFile) -> None:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError("archive.link", f"member {info.filename[:200]!r} is a link")
            if info.is_dir():
                _clean_name(info.filename)
                continue
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # many tools set no type bits
                detail = f"member {info.filename[:200]!r} is not a regular file"
                raise ArchiveError("archive.special_file", detail)
            if info.flag_bits & 0x1:
                detail = f"member {info.filename[:200]!r} is encrypted"
                raise ArchiveError("archive.encrypted", detail)
            self._add(info.filename, info.file_size, info.compress_size)

    def _index_tar(self, archive: tarfile.TarFile) -> None:
        for info in archive:  # reads headers only, member by member
            if info.issym() or info.islnk():
                raise ArchiveError("archive.link", f"member {info.name[:200]!r} is a link")
            if info.isdir():
                _clean_name(info.name)
                continue
            if not info.isfile():
                detail = f"member {info.name[:200]!r} is not a regular file"
                raise ArchiveError("archive.special_file", detail)
            self._add(info.name, info.size, info.size)

    def read(self, name: str) -> bytes:
        """A member's bytes, at most its declared size (ArchiveError when it lies)."""
        size = self.members[name].size
        try:
            if self._zip is not None:
                with self._zip.open(name) as f:  # CRC and size checked at the end
                    data = f.read(size + 1)
            else:
                assert self._tar is not None
                extracted = self._tar.extractfile(name)
                data = extracted.read(size + 1) if extracted is not None else b""
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, KeyError) as exc:
            raise ArchiveError("archive.invalid", f"member {name!r} is unreadable: {exc}") from None
        if len(data) != size:
            raise ArchiveError("archive.invalid", f"member {name!r} is not its declared size")
        return data

    def close(self) -> None:
        """Close the archive file."""
        for archive in (self._zip, self._tar):
            if archive is not None:
                archive.close()


def _ignored(name: str) -> bool:
    """macOS resource forks and hidden files: never data."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def _strip_top(names: list[str]) -> str:
    """The one folder every name is under ("" when there is none)."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop() + "/"
    return ""


def _label(label: str, where: str) -> str:
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL_CHARS or any(ord(c) < 32 for c in label):
        raise ArchiveError(
            "archive.bad_label", f"{where}: a label is 1-{MAX_LABEL_CHARS} characters"
        )
    return label


def _labelled(reader: _Reader) -> tuple[Literal["folders", "labels_csv"], list[Item]]:
    """(layout, the labelled images sorted by name)."""
    names = [n for n in reader.members if not _ignored(n)]
    images = [n for n in names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ArchiveError("archive.no_images", "no .png, .jpg, .jpeg or .webp images")
    top = _strip_top(names)
    if top + LABELS_FILE in reader.members:
        return "labels_csv", _from_csv(reader, top, set(images))
    items = []
    for name in images:
        parts = name.removeprefix(top).split("/")
        if len(parts) != 2:
            raise ArchiveError(
                "archive.layout",
                f"{name!r} is not in a class folder (label/image.png), and there is no "
                f"{LABELS_FILE}",
            )
        items.append(Item(name, _label(parts[0], name)))
    return "folders", sorted(items, key=lambda i: i.name)


def _from_csv(reader: _Reader, top: str, images: set[str]) -> list[Item]:
    where = top + LABELS_FILE
    try:
        text = reader.read(where).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchiveError("archive.labels", f"{where} is not UTF-8") from None
    rows = csv.DictReader(io.StringIO(text))
    if not {"filename", "label"} <= set(rows.fieldnames or []):
        raise ArchiveError("archive.labels", f"{where} needs the columns filename and label")
    items: dict[str, Item] = {}
    for line, row in enumerate(rows, start=2):
        name = top + _clean_name(row["filename"] or "")
        if name not in images:
            raise ArchiveError("archive.labels", f"{where} line {line}: no image {name!r}")
        if name in items:
            raise ArchiveError("archive.labels", f"{where} line {line}: {name!r} labelled twice")
        items[name] = Item(name, _label(row["label"] or "", f"{where} line {line}"))
    unlabelled = sorted(images - set(items))
    if unlabelled:
        raise ArchiveError("archive.labels", f"{where} gives no label for {unlabelled[0]!r}")
    return sorted(items.values(), key=lambda i: i.name)


def decode(data: bytes, name: str, limits: ArchiveLimits) -> tuple[Image.Image, str]:
    """The decoded image and its format; ArchiveError unless an acceptable image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in IMAGE_FORMATS:
                raise ArchiveError(
                    "archive.image_format", f"{name!r} is {image.format}, not PNG, JPEG or WebP"
                )
            width, height = image.size  # from the header: nothing decoded yet
            if max(width, height) > limits.max_side or width * height > limits.max_pixels:
                raise ArchiveError(
                    "archive.image_too_large",
                    f"{name!r} is {width}x{height} pixels: at most {limits.max_side} a side "
                    f"and {limits.max_pixels} in all",
                    413,
                )
            image.load()
    except ArchiveError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ArchiveError("archive.image_too_large", f"{name!r}: {exc}", 413) from None
    except (OSError, SyntaxError, ValueError, EOFError, Warning) as exc:
        detail = f"{name!r} is not a decodable image: {exc}"
        raise ArchiveError("archive.image_invalid", detail) from None
    return image, str(image.format)


class ImageArchive:
    """A checked archive's labelled images (see the module docstring)."""

    layout: Literal["folders", "labels_csv"]

    def __init__(self, path: Path, fmt: str, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()
        self._reader = _Reader(path, fmt, self.limits)
        try:
            self.layout, self.items = _labelled(self._reader)
            classes = {i.label for i in self.items}
            if len(classes) > self.limits.max_classes:
                detail = f"{len(classes)} classes: the limit is {self.limits.max_classes}"
                raise ArchiveError("archive.too_many_classes", detail, 413)
        except BaseException:
            self._reader.close()
            raise

    def member_size(self, name: str) -> int:
        """A member's uncompressed size, as its archive declares it (and reading checks)."""
        return self._reader.members[name].size

    def images(self) -> Iterator[Decoded]:
        """Each image decoded and checked, in name order (pixels counted over all)."""
        pixels = 0
        for item in self.items:
            image, fmt = decode(self._reader.read(item.name), item.name, self.limits)
            pixels += image.size[0] * image.size[1]
            if pixels > self.limits.max_total_pixels:
                detail = f"the images hold more than {self.limits.max_total_pixels} pixels"
                raise ArchiveError("archive.too_large", detail, 413)
            yield Decoded(item, image, fmt)

    def pixels(self, size: int, grayscale: bool) -> np.ndarray:
        """float32 images, size x size x channels in [0, 1] (bilinear resize by Pillow)."""
        mode = "L" if grayscale else "RGB"
        out = np.zeros((len(self.items), size, size, 1 if grayscale else 3), dtype=np.float32)
        for i, decoded in enumerate(self.images()):
            small = decoded.image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            out[i] = np.asarray(small, dtype=np.float32).reshape(size, size, -1) / 255.0
        return out

    def close(self) -> None:
        """Close the archive file."""
        self._reader.close()


def read_archive(path: Path, fmt: str, limits: ArchiveLimits | None = None) -> ImageArchive:
    """Open and check the archive at `path` (ArchiveError when it is not acceptable)."""
    return ImageArchive(path, fmt, limits)
