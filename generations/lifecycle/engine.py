"""The engine as the service runs it: ``pipeline``'s providers and model registry, configured here.

``pipeline`` reads no settings. This module is the one place that builds its ``EngineConfig``
from ``coherence_project.conf`` and Django's ``REPLICATE_*`` settings, and the one way the rest of
``generations`` (and its commands) reaches a provider or looks a model up. The config is built
once and rebuilt when a test changes a setting it reads (Django's ``setting_changed``), as
``coherence_project.conf.config`` does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from coherence_project.conf import config
from pipeline import providers
from pipeline.providers.base import Provider
from pipeline.providers.config import DiffusersOptions, EngineConfig, ReplicateConfig
from pipeline.providers.registry import ModelRegistry, ModelSpec

# The Django settings the config is built from (COHERENCE is read through ``config``).
_READS = {"COHERENCE", "Q_CLUSTER", "VAR_DIR", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"}


@cache
def engine_config() -> EngineConfig:
    """The engine's configuration under the current settings."""
    scratch_dir = Path(config.LOCAL_SCRATCH_DIR)
    return EngineConfig(
        scratch_dir=scratch_dir,
        local_latency=float(config.LOCAL_LATENCY),
        extra_models=config.EXTRA_MODELS,
        replicate=ReplicateConfig(
            api_token=getattr(settings, "REPLICATE_API_TOKEN", "") or None,
            base_url=getattr(settings, "REPLICATE_BASE_URL", "") or None,
            max_retries=config.PROVIDER_MAX_RETRIES,
            backoff_seconds=config.PROVIDER_BACKOFF_SECONDS,
            max_output_bytes=config.MAX_OUTPUT_BYTES,
        ),
        diffusers=DiffusersOptions(
            scratch_dir=scratch_dir,
            device=config.DIFFUSERS_DEVICE,
            dtype=config.DIFFUSERS_DTYPE,
            steps=config.DIFFUSERS_STEPS,
            guidance=config.DIFFUSERS_GUIDANCE,
            cpu_offload=config.DIFFUSERS_CPU_OFFLOAD,
            vae_tiling=config.DIFFUSERS_VAE_TILING,
        ),
    )


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (local, replicate, diffusers), shared per process."""
    return providers.get_provider(name, engine_config())


def model_registry() -> ModelRegistry:
    """The built-in models plus ``COHERENCE_EXTRA_MODELS``."""
    return engine_config().models


def get_model(name: str) -> ModelSpec:
    """The model called ``name``; ``UnknownModelError`` when there is none."""
    return model_registry().get(name)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in _READS:
        engine_config.cache_clear()


setting_changed.connect(_reload)
