"""Still frames for tests that hand a provider a previous clip's last frame or a start image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_frame_png(path: Path, *, width: int = 128, height: int = 72) -> Path:
    """A deterministic RGB gradient frame, standing in for a previous clip's last frame."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), np.full_like(x, 90)],
        axis=-1,
    ).astype(np.uint8)
    Image.fromarray(frame).save(path, format="PNG")
    return path
