"""Avatar images: identified by their bytes (never by a sent content type), bounded in size
and in pixels before any decoding, and stored as sent (nothing is re-encoded).

Pillow reads only an image's header to learn its size, so a decompression bomb (a tiny
PNG declaring 100000 x 100000 pixels) is refused before a pixel is decoded: by the
explicit dimension bound, and by Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, whose
warning is raised as an error here).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_AVATAR_BYTES = 1 << 20
MAX_SIDE = 1024
# Pillow's bomb guard, process-wide: nothing else here decodes images, and no avatar may
# exceed MAX_SIDE x MAX_SIDE pixels anyway.
Image.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
#: Magic bytes (WebP's: "RIFF", a size, then "WEBP").
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


@dataclass(frozen=True)
class AvatarRejectedError(Exception):
    """Why an avatar is refused: the HTTP `status`, a dotted `code` and a `reason`."""

    status: int
    code: str
    reason: str


@dataclass(frozen=True)
class ImageType:
    """What an image's bytes say it is."""

    media_type: str
    pillow_format: str


def sniff(head: bytes) -> ImageType | None:
    """The image type of bytes starting with `head` (PNG, JPEG or WebP), or None."""
    if head.startswith(_PNG):
        return ImageType("image/png", "PNG")
    if head.startswith(_JPEG):
        return ImageType("image/jpeg", "JPEG")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageType("image/webp", "WEBP")
    return None


def check_avatar(data: bytes) -> ImageType:
    """The type of an acceptable avatar; AvatarRejectedError for anything else."""
    if len(data) > MAX_AVATAR_BYTES:
        raise AvatarRejectedError(
            413, "profile.avatar.too_large", f"avatar: larger than {MAX_AVATAR_BYTES} bytes"
        )
    kind = sniff(data[:16])
    if kind is None:
        raise AvatarRejectedError(
            415, "profile.avatar.type", "avatar: not a PNG, JPEG or WebP image (by its bytes)"
        )
    _verify(data, kind)
    return kind


def _verify(data: bytes, kind: ImageType) -> None:
    """Pillow's bomb guard, the dimension bound (from the header), its integrity check."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind.pillow_format]) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise AvatarRejectedError(
                        400,
                        "profile.avatar.dimensions",
                        f"avatar: {width}x{height} pixels, at most {MAX_SIDE}x{MAX_SIDE}",
                    )
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AvatarRejectedError(
            400,
            "profile.avatar.dimensions",
            f"avatar: more than {MAX_SIDE}x{MAX_SIDE} pixels (a decompression bomb?)",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AvatarRejectedError(
            400,
            "profile.avatar.invalid",
            f"avatar: not a readable {kind.pillow_format} image ({type(exc).__name__})",
        ) from None
