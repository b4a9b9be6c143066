"""Start-image validation: decodable PNG/JPEG/WebP, at most 10 MB and 4096 px a side."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

from pipeline.images import ImageError, check_image, decode_data_uri


def encoded(kind: str, size: tuple[int, int] = (32, 18)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 90)).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.mark.parametrize(("kind", "extension"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_png_jpeg_and_webp_are_accepted_with_their_sha256(kind, extension):
    data = encoded(kind)

    checked = check_image(data)

    assert (checked.extension, checked.width, checked.height) == (extension, 32, 18)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a not really", "cannot be decoded"),
        (encoded("GIF"), "use PNG, JPEG or WebP"),
        (encoded("PNG", (4097, 4)), "at most 4096 px a side"),
        (encoded("PNG")[:40], "cannot be decoded"),  # truncated
        (b"\x89PNG" + b"0" * (10 * 1024 * 1024), "limit is 10 MB"),
    ],
)
def test_bad_images_are_refused_with_a_reason(data, message):
    with pytest.raises(ImageError, match=message):
        check_image(data)


def test_data_uris_decode_and_bad_ones_are_refused():
    data = encoded("PNG")
    assert decode_data_uri(f"data:image/png;base64,{base64.b64encode(data).decode()}") == data
    with pytest.raises(ImageError, match="base64 data URI"):
        decode_data_uri("data:image/png,raw")
    with pytest.raises(ImageError, match="not valid base64"):
        decode_data_uri("data:image/png;base64,!!!")
