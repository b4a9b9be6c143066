"""Start images given with a plan (a scene's ``image``, a generation's ``reference_image``).

Validated before anything is stored or paid for: a decodable PNG, JPEG or WebP, at most 10 MB and
4096 px a side. The bytes are kept as given (their sha256 goes into the recipe); only their format
and size are checked. Plain Python: the caller stores the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<b64>;base64)?,(?P<data>.*)$", re.S)


class ImageError(ValueError):
    """An image we refuse; the message says why, in words a person can act on."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    extension: str  # png | jpg | webp
    width: int
    height: int
    sha256: str

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.extension]


def check_image(data: bytes) -> CheckedImage:
    """Validate image bytes; ImageError says what is wrong."""
    if not data:
        raise ImageError("The image is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"The image is {len(data)} bytes; the limit is 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                    raise ImageError(
                        f"The image is {width}x{height} px; at most {MAX_IMAGE_SIDE} px a side."
                    )
                image.load()  # a truncated or corrupt file fails here, not at the provider
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"The image cannot be decoded as PNG, JPEG or WebP ({exc}).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("The image is too large to decode.") from None
    if kind not in FORMATS:
        raise ImageError(f"The image is {kind}; use PNG, JPEG or WebP.")
    return CheckedImage(data, FORMATS[kind], width, height, hashlib.sha256(data).hexdigest())


def decode_data_uri(value: str) -> bytes:
    """The bytes of a base64 ``data:`` URI; ImageError for anything else."""
    match = _DATA_URI.match(value.strip())
    if not match or not match.group("b64"):
        raise ImageError("Expected a base64 data URI (data:image/png;base64,...).")
    encoded = re.sub(r"\s+", "", match.group("data"))
    if len(encoded) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
        raise ImageError("The image is larger than 10 MB.")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("The data URI is not valid base64.") from None


def fetch_image(url: str, *, timeout: float = 10.0) -> bytes:
    """Download an https image (at most 10 MB); ImageError says why it could not be had."""
    import httpx

    if not url.lower().startswith("https://"):
        raise ImageError("Image URLs must be https://.")
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ImageError(f"Fetching {url} answered HTTP {response.status_code}.")
            chunks, size = [], 0
            for chunk in response.iter_bytes(1 << 16):
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ImageError(f"The image at {url} is larger than 10 MB.")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ImageError(f"Could not fetch {url}: {exc.__class__.__name__}.") from None
    return b"".join(chunks)
