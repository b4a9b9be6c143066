"""Provider lookup: one instance per provider name, built from settings."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pipeline.providers.base import Provider
from pipeline.providers.diffusion_families import DIFFUSERS_PROVIDER
from pipeline.providers.registry import LOCAL_PROVIDER, REPLICATE_PROVIDER


@cache
def _build(name: str) -> Provider:
    if name == LOCAL_PROVIDER:
        from pipeline.providers.local import LocalProvider

        return LocalProvider()
    if name == REPLICATE_PROVIDER:
        from pipeline.providers.replicate import ReplicateProvider

        return ReplicateProvider()
    if name == DIFFUSERS_PROVIDER:
        return _diffusers()
    raise ValueError(f"Unknown provider {name!r}")


def _diffusers() -> Provider:
    try:
        from pipeline.providers.diffusion import DiffusersOptions, DiffusersProvider
    except ImportError as exc:
        raise ValueError(
            f"The diffusers provider needs the [diffusion] extra (pip install -e '.[diffusion]'): "
            f"{exc}"
        ) from None
    from coherence_project.conf import config

    return DiffusersProvider(
        DiffusersOptions(
            scratch_dir=Path(config.LOCAL_SCRATCH_DIR),
            device=config.DIFFUSERS_DEVICE,
            dtype=config.DIFFUSERS_DTYPE,
            steps=config.DIFFUSERS_STEPS,
            guidance=config.DIFFUSERS_GUIDANCE,
            cpu_offload=config.DIFFUSERS_CPU_OFFLOAD,
            vae_tiling=config.DIFFUSERS_VAE_TILING,
        )
    )


def get_provider(name: str) -> Provider:
    return _build(name)


def reset_providers() -> None:
    """Forget built providers (tests change their settings)."""
    _build.cache_clear()
