"""The Coherence settings: one source of defaults, read from the environment, documented."""

from pathlib import Path

import environ
import pytest

from coherence_project import conf
from coherence_project.conf import config

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented_for_operators():
    documented = OPERATIONS.read_text()
    missing = [name for name in conf.SETTINGS if f"`COHERENCE_{name}`" not in documented]
    assert missing == []


def test_environment_values_are_cast_to_each_settings_type():
    env = environ.Env()
    env.ENVIRON = {
        "COHERENCE_MAX_SCENES": "7",
        "COHERENCE_POLL_INTERVAL": "0.5",
        "COHERENCE_MEDIA_SENDFILE": "x-accel-redirect",
        "COHERENCE_RETENTION_DAYS": "30",
        "COHERENCE_EXTRA_MODELS": '{"acme/x": {"provider": "replicate"}}',
        "COHERENCE_STALE_AFTER_SECONDS": "90",
        "UNRELATED": "1",
    }
    assert conf.from_environment(env) == {
        "MAX_SCENES": 7,
        "POLL_INTERVAL": 0.5,
        "MEDIA_SENDFILE": "x-accel-redirect",
        "RETENTION_DAYS": 30,
        "EXTRA_MODELS": {"acme/x": {"provider": "replicate"}},
        "STALE_AFTER_SECONDS": 90,
    }


def test_overrides_are_seen_at_once_and_defaults_come_back(settings):
    assert conf.SETTINGS["MAX_SCENE_SECONDS"].default == config.MAX_SCENE_SECONDS
    settings.COHERENCE = {**settings.COHERENCE, "MAX_SCENE_SECONDS": 3.0}
    assert config.MAX_SCENE_SECONDS == 3.0
    settings.COHERENCE = {}
    assert conf.SETTINGS["MAX_SCENE_SECONDS"].default == config.MAX_SCENE_SECONDS


def test_stale_threshold_defaults_past_the_task_timeout(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 120}
    assert config.STALE_AFTER_SECONDS == 180


def test_an_unknown_setting_is_an_error():
    with pytest.raises(AttributeError):
        _ = config.NO_SUCH_SETTING
