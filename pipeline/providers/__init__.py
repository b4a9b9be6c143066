"""Provider lookup: one instance per provider name, built from the ``EngineConfig`` it is handed."""

from __future__ import annotations

import threading

from pipeline.providers.base import Provider
from pipeline.providers.config import EngineConfig
from pipeline.providers.diffusion_families import DIFFUSERS_PROVIDER
from pipeline.providers.registry import LOCAL_PROVIDER, REPLICATE_PROVIDER

# name -> (the config it was built from, the provider). A provider is rebuilt when it is asked
# for under another config (tests change settings; a service's config rarely changes).
_built: dict[str, tuple[EngineConfig, Provider]] = {}
_lock = threading.Lock()


def build_provider(name: str, config: EngineConfig) -> Provider:
    """A new provider called ``name``, configured by ``config``."""
    if name == LOCAL_PROVIDER:
        from pipeline.providers.local import LocalProvider

        return LocalProvider(config.scratch_dir, latency=config.local_latency)
    if name == REPLICATE_PROVIDER:
        from pipeline.providers.replicate import ReplicateProvider

        return ReplicateProvider(config.replicate, models=config.models)
    if name == DIFFUSERS_PROVIDER:
        return _diffusers(config)
    raise ValueError(f"Unknown provider {name!r}")


def _diffusers(config: EngineConfig) -> Provider:
    try:
        from pipeline.providers.diffusion import DiffusersProvider
    except ImportError as exc:
        raise ValueError(
            f"The diffusers provider needs the [diffusion] extra (pip install -e '.[diffusion]'): "
            f"{exc}"
        ) from None
    return DiffusersProvider(config.diffusers_options)


def get_provider(name: str, config: EngineConfig) -> Provider:
    """The provider called ``name`` under ``config``, built once and shared while it holds."""
    with _lock:
        built = _built.get(name)
        if built is not None and (built[0] is config or built[0] == config):
            return built[1]
    provider = build_provider(name, config)  # outside the lock: a diffusers build is slow
    with _lock:
        _built[name] = (config, provider)
    return provider


def reset_providers() -> None:
    """Forget built providers (tests that change what a provider reads call this)."""
    with _lock:
        _built.clear()
