"""What the engine is handed: the providers' and the registry's configuration, as frozen values.

``pipeline`` reads no settings of its own. Whoever runs it builds an ``EngineConfig`` — the
service at its edge from ``coherence_project.conf`` (``generations.lifecycle.engine``), a script
by hand — and passes it to ``pipeline.providers.get_provider``. The defaults here are the library's
defaults; the service's own defaults live in ``coherence_project.conf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.providers.registry import ModelRegistry

DEFAULT_MAX_OUTPUT_BYTES = 2_000_000_000


@dataclass(frozen=True)
class ReplicateConfig:
    """How the Replicate provider talks to Replicate."""

    api_token: str | None = None  # None: the replicate client reads REPLICATE_API_TOKEN itself
    base_url: str | None = None  # None: https://api.replicate.com
    max_retries: int = 5  # retries of one call (429, 5xx, network)
    backoff_seconds: float = 0.5  # first back-off between retries (doubling)
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES  # a bigger output fails the scene


@dataclass(frozen=True)
class DiffusersOptions:
    """How this worker runs diffusers pipelines."""

    scratch_dir: Path
    device: str = "auto"  # auto: cuda > mps > cpu
    dtype: str = "auto"  # auto: bfloat16 on CUDA, float32 elsewhere
    steps: int | None = None  # None: the family's default
    guidance: float | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False


@dataclass(frozen=True)
class EngineConfig:
    """Everything the providers and the model registry need to know about where they run."""

    scratch_dir: Path  # in-process providers render here, one folder per prediction
    local_latency: float = 0.0  # simulated model seconds per scene on the local model
    # Models beyond the built-in ones: {"owner/name[:<64-hex>]": {ModelSpec fields}}.
    extra_models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    replicate: ReplicateConfig = field(default_factory=ReplicateConfig)
    diffusers: DiffusersOptions | None = None  # None: the defaults, in scratch_dir

    @cached_property
    def models(self) -> ModelRegistry:
        """The registry over the built-in models and ``extra_models`` (parsed once)."""
        return ModelRegistry(self.extra_models)

    @property
    def diffusers_options(self) -> DiffusersOptions:
        return self.diffusers or DiffusersOptions(scratch_dir=self.scratch_dir)
