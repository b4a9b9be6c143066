"""Tiny diffusers pipelines on disk for the diffusers tests (built once per test session).

Without the ``[diffusion]`` extra the tests that use them skip, naming the extra; under CI they
are required (tests.support.system.require_module).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.system import require_module


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """ltx | wan | wan-i2v -> a directory holding a tiny random-weight pipeline, saved by
    ``save_pretrained``."""
    for module in ("torch", "diffusers", "transformers", "accelerate"):
        require_module(module, extra="diffusion")
    from bench.tiny_diffusers import VARIANTS, write_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny-diffusers")
    return {variant: write_tiny_pipeline(variant, root / variant) for variant in VARIANTS}
