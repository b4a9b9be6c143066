import pytest
from django.core.exceptions import ValidationError

from generations.services.render_settings import DEFAULTS, merge_render_settings


def test_missing_settings_mean_the_defaults():
    assert merge_render_settings(None) == DEFAULTS
    assert DEFAULTS["seed_control"] is True
    assert DEFAULTS["latent_reuse"] is True
    assert DEFAULTS["seed_mode"] == "shared"


def test_a_partial_dict_is_laid_over_the_defaults():
    merged = merge_render_settings({"latent_reuse": False})
    assert merged == {**DEFAULTS, "latent_reuse": False}


def test_an_unknown_key_is_rejected_by_name():
    with pytest.raises(ValidationError) as info:
        merge_render_settings({"seed_contol": False})
    assert "coherence_settings.seed_contol" in info.value.message_dict


def test_a_wrong_type_is_rejected_by_name():
    with pytest.raises(ValidationError) as info:
        merge_render_settings({"seed_control": "yes"})
    assert "must be a bool" in info.value.message_dict["coherence_settings.seed_control"][0]


def test_an_integer_is_not_a_boolean():
    with pytest.raises(ValidationError):
        merge_render_settings({"latent_reuse": 1})


def test_seed_mode_must_be_known():
    with pytest.raises(ValidationError) as info:
        merge_render_settings({"seed_mode": "random"})
    assert "coherence_settings.seed_mode" in info.value.message_dict


def test_settings_must_be_an_object():
    with pytest.raises(ValidationError):
        merge_render_settings(["seed_control"])
