"""Validate and profile an uploaded image classification archive (ZIP or tar).

The archive is checked as workers.training.archive checks it (paths, links, sizes, ratio,
every image decoded with Pillow's bounds), so a job never meets an archive the upload did
not accept; any refusal is an UploadRejectedError with an ``upload.archive.*`` code.
The profile: layout, classes and their counts, image sizes and formats; the columns a spec
names (``image``, typed ``image``, and ``label``); and, when previews are asked for, up to
that many thumbnails (PNG data URLs at most THUMBNAIL pixels a side), taken from the
classes in turn, as the preview document.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from pathlib import Path

from PIL import Image

from api.profile import Limits, Profile, UploadRejectedError
from common.documents import (
    IMAGE_COLUMN_TYPE,
    ClassCount,
    ColumnProfile,
    ImageSetProfile,
    PreviewDocument,
    SizeRange,
    ValueCount,
)
from workers.training.archive import ArchiveError, ArchiveLimits, Decoded, ImageArchive

THUMBNAIL = 32
MAX_THUMBNAILS_BYTES = 512 * 1024
TOP_CLASSES = 10
#: The sniffed start of each archive format (tar's "ustar" magic sits at offset 257).
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _sniff(path: Path, fmt: str) -> None:
    with path.open("rb") as f:
        head = f.read(512)
    ok = head.startswith(ZIP_MAGIC) if fmt == "zip" else head[257:262] == b"ustar"
    if not ok:
        raise UploadRejectedError(
            400, f"not a {fmt} file (no {fmt} magic): mislabelled?", "upload.archive.invalid"
        )


def _size_range(values: list[int]) -> SizeRange:
    return SizeRange(min=min(values), max=max(values), mean=sum(values) / len(values))


def _thumbnail(decoded: Decoded) -> str:
    image = decoded.image.convert("RGB")
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _wanted(archive: ImageArchive, count: int) -> set[str]:
    """The names of `count` images, one class after another (round robin, name order)."""
    by_class: dict[str, list[str]] = {}
    for item in archive.items:
        by_class.setdefault(item.label, []).append(item.name)
    chosen: list[str] = []
    depth = 0
    while len(chosen) < count and any(depth < len(v) for v in by_class.values()):
        chosen += [names[depth] for _, names in sorted(by_class.items()) if depth < len(names)]
        depth += 1
    return set(chosen[:count])


def profile_archive(path: Path, fmt: str, limits: Limits, thumbnails: int) -> Profile:
    """Check every member and image of the archive and profile it; UploadRejectedError
    (``upload.archive.*``) for anything not acceptable."""
    _sniff(path, fmt)
    bounds = ArchiveLimits(max_members=min(ArchiveLimits.max_members, limits.max_rows + 1))
    try:
        archive = ImageArchive(path, fmt, bounds)
        try:
            return _profile(archive, fmt, thumbnails)
        finally:
            archive.close()
    except ArchiveError as exc:
        raise UploadRejectedError(exc.status, exc.reason, f"upload.{exc.code}") from None


def _profile(archive: ImageArchive, fmt: str, thumbnails: int) -> Profile:
    wanted = _wanted(archive, thumbnails)
    widths, heights, formats, size = [], [], Counter[str](), 0
    rows: list[list[object]] = []
    shown = 0
    for decoded in archive.images():
        width, height = decoded.image.size
        widths.append(width)
        heights.append(height)
        formats[decoded.format] += 1
        size += archive.member_size(decoded.item.name)
        if decoded.item.name in wanted and shown < MAX_THUMBNAILS_BYTES:
            thumb = _thumbnail(decoded)
            shown += len(thumb)
            rows.append([decoded.item.name, decoded.item.label, width, height, thumb])
    counts = Counter(item.label for item in archive.items)
    classes = [ClassCount(label=label, count=n) for label, n in sorted(counts.items())]
    images = ImageSetProfile(
        layout=archive.layout,
        images=len(archive.items),
        classes=classes,
        width=_size_range(widths),
        height=_size_range(heights),
        formats=dict(sorted(formats.items())),
        image_bytes=size,
    )
    top = [ValueCount(value=label, count=n) for label, n in counts.most_common(TOP_CLASSES)]
    columns = [
        ColumnProfile(name="image", type=IMAGE_COLUMN_TYPE, nulls=0),
        ColumnProfile(
            name="label",
            type="string",
            nulls=0,
            distinct=len(counts),
            distinct_exact=True,
            top=top,
            top_exact=True,
        ),
    ]
    preview = None
    if thumbnails:
        preview = PreviewDocument(
            columns=["file", "label", "width", "height", "thumbnail"],
            rows=rows,
            truncated=len(rows) < min(thumbnails, len(archive.items)),
        )
    return Profile(
        format=fmt, rows=len(archive.items), columns=columns, preview=preview, images=images
    )
