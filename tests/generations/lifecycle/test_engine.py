"""generations.lifecycle.engine: the one place the engine's configuration is built from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from generations.lifecycle.engine import engine_config, get_model, get_provider, model_registry
from pipeline.providers import reset_providers
from pipeline.providers.registry import (
    LOCAL_PROVIDER,
    REPLICATE_PROVIDER,
    SEEDANCE_LITE,
    UnknownModelError,
)

EXTRA = {"acme/video-x": {"provider": "replicate", "seed_input": "seed"}}


def test_providers_are_built_from_the_current_settings_and_shared_while_they_hold(
    settings, tmp_path
):
    settings.COHERENCE = {
        **settings.COHERENCE,
        "LOCAL_SCRATCH_DIR": str(tmp_path / "first"),
        "LOCAL_LATENCY": 0.25,
    }
    local = get_provider(LOCAL_PROVIDER)
    assert (Path(local.root), local.latency) == (tmp_path / "first", 0.25)
    assert get_provider(LOCAL_PROVIDER) is local

    settings.COHERENCE = {**settings.COHERENCE, "LOCAL_SCRATCH_DIR": str(tmp_path / "second")}
    moved = get_provider(LOCAL_PROVIDER)
    assert moved is not local
    assert Path(moved.root) == tmp_path / "second"

    reset_providers()  # tests that change what a provider holds still get a fresh one
    assert get_provider(LOCAL_PROVIDER) is not moved


def test_replicate_settings_reach_the_provider(settings):
    settings.REPLICATE_API_TOKEN = "r8_engine_test"
    settings.REPLICATE_BASE_URL = "http://127.0.0.1:9"
    settings.COHERENCE = {
        **settings.COHERENCE,
        "PROVIDER_MAX_RETRIES": 2,
        "PROVIDER_BACKOFF_SECONDS": 0.125,
        "MAX_OUTPUT_BYTES": 1234,
        "EXTRA_MODELS": EXTRA,
    }

    provider = get_provider(REPLICATE_PROVIDER)

    assert (provider.api_token, provider.base_url) == ("r8_engine_test", "http://127.0.0.1:9")
    assert (provider.max_retries, provider.backoff_seconds) == (2, 0.125)
    assert provider.max_output_bytes == 1234
    assert provider.models is model_registry()
    assert provider.models.get("acme/video-x").seed_input == "seed"


def test_extra_models_follow_the_setting(settings):
    settings.COHERENCE = {**settings.COHERENCE, "EXTRA_MODELS": {}}
    with pytest.raises(UnknownModelError, match="acme/video-x"):
        get_model("acme/video-x")

    settings.COHERENCE = {**settings.COHERENCE, "EXTRA_MODELS": EXTRA}

    assert get_model("acme/video-x").provider == REPLICATE_PROVIDER
    hosted = {spec.name for spec in model_registry().hosted()}
    assert {"acme/video-x", SEEDANCE_LITE} <= hosted
    assert engine_config().extra_models == EXTRA
