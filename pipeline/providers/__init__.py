"""Provider lookup: one instance per provider name, built from settings."""

from __future__ import annotations

from functools import cache

from pipeline.providers.base import Provider
from pipeline.providers.registry import LOCAL_PROVIDER, REPLICATE_PROVIDER


@cache
def _build(name: str) -> Provider:
    if name == LOCAL_PROVIDER:
        from pipeline.providers.local import LocalProvider

        return LocalProvider()
    if name == REPLICATE_PROVIDER:
        from pipeline.providers.replicate import ReplicateProvider

        return ReplicateProvider()
    raise ValueError(f"Unknown provider {name!r}")


def get_provider(name: str) -> Provider:
    return _build(name)


def reset_providers() -> None:
    """Forget built providers (tests change their settings)."""
    _build.cache_clear()
