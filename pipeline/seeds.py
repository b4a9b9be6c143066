"""Seed arithmetic: the seed space, a fresh draw, and the seed each scene is sent.

Plain Python: the lifecycle (``generations.lifecycle.seeds``) decides when a draw happens and
stores it.
"""

from __future__ import annotations

import secrets

SEED_MAX = 2**31 - 1  # every model we know accepts 0..2^31-1
SEED_SPACE = SEED_MAX + 1


def generate_seed() -> int:
    """A fresh seed from the OS's cryptographic RNG (no process-wide random state to collide on)."""
    return secrets.randbelow(SEED_SPACE)


def scene_seed(*, base_seed: int | None, index: int, mode: str) -> int | None:
    """The seed sent for scene ``index`` (0-based) under ``mode``; None when seed control is off."""
    if base_seed is None:
        return None
    if mode == "shared":
        return base_seed
    if mode == "offset":
        return (base_seed + index) % SEED_SPACE
    raise ValueError(f"Unknown seed_mode {mode!r}")
