import pytest
from django.core.exceptions import ValidationError

from generations.models import SEED_MAX, Generation, Scene
from generations.services.create import create_generation
from generations.services.reproduce import regenerate_generation
from generations.services.request import GenerationRequest

pytestmark = pytest.mark.django_db


def make(plan, owner=None, **kwargs):
    return create_generation(GenerationRequest(scenes=plan, **kwargs), owner=owner, enqueue=False)


def test_create_stores_the_generation_and_its_scenes_in_order(plan, user):
    generation = make(plan, title="Fox", owner=user)
    assert generation.status == Generation.Status.QUEUED
    assert generation.render_settings["seed_control"] is True
    assert list(generation.scenes.values_list("index", "continuous")) == [
        (0, False),
        (1, True),
        (2, False),
        (3, True),
    ]


def test_the_seed_is_not_drawn_at_creation(plan):
    assert make(plan).seed is None


def test_a_given_seed_is_stored_as_is(plan):
    assert make(plan, seed=1234).seed == 1234


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 1.5, "7", True])
def test_a_seed_out_of_range_or_not_an_integer_is_refused(plan, seed):
    with pytest.raises(ValidationError) as info:
        make(plan, seed=seed)
    assert "seed" in info.value.message_dict
    assert Generation.objects.count() == 0


def test_a_seed_with_seed_control_off_is_refused(plan):
    with pytest.raises(ValidationError) as info:
        make(plan, seed=5, coherence_settings={"seed_control": False})
    assert "seed" in info.value.message_dict


@pytest.mark.parametrize(
    ("scenes", "field"),
    [
        ([], "scenes"),
        ([{"prompt": "x", "duration": 1}] * 51, "scenes"),
        ([{"prompt": "  ", "duration": 1}], "scenes.0.prompt"),
        ([{"prompt": "x", "duration": -1}], "scenes.0.duration"),
        ([{"prompt": "x", "duration": 0}], "scenes.0.duration"),
        ([{"prompt": "x", "duration": 999}], "scenes.0.duration"),
        ([{"prompt": "x", "duration": "2"}], "scenes.0.duration"),
        ([{"prompt": "x", "duration": 1, "continuous": True}], "scenes.0.continuous"),
        (
            [{"prompt": "x", "duration": 1}, {"prompt": "y", "duration": 1, "continuous": "no"}],
            "scenes.1.continuous",
        ),
        ([{"prompt": "x", "duration": 1, "camera": "pan"}], "scenes.0"),
        (["just text"], "scenes.0"),
        ("not a list", "scenes"),
    ],
)
def test_a_bad_plan_names_the_field_and_stores_nothing(scenes, field):
    with pytest.raises(ValidationError) as info:
        make(scenes)
    assert field in info.value.message_dict
    assert Generation.objects.count() == 0
    assert Scene.objects.count() == 0


def test_bad_settings_and_bad_plan_are_reported_together(plan):
    with pytest.raises(ValidationError) as info:
        make([], coherence_settings={"nope": True})
    assert {"scenes", "coherence_settings.nope"} <= set(info.value.message_dict)


def test_an_unknown_model_is_refused(plan):
    with pytest.raises(ValidationError) as info:
        make(plan, model="acme/never-heard-of-it")
    assert "model" in info.value.message_dict


def test_an_unknown_provider_is_refused(plan):
    with pytest.raises(ValidationError) as info:
        make(plan, provider="acme")
    assert "provider" in info.value.message_dict


def test_the_embedded_default_is_the_local_model(plan):
    generation = make(plan)
    assert (generation.provider, generation.model) == ("local", "coherence/local-dna")


def test_regenerate_copies_plan_settings_model_and_seed(plan, user):
    source = make(plan, seed=99, coherence_settings={"seed_mode": "offset"}, owner=user)
    again = regenerate_generation(source=source, enqueue=False)
    assert again.source_generation == source
    assert again.seed == 99
    assert again.render_settings == source.render_settings
    assert again.owner == user
    assert [s.prompt for s in again.scenes.all()] == [s.prompt for s in source.scenes.all()]


def test_regenerate_with_a_new_seed_or_none(plan):
    source = make(plan, seed=99)
    assert regenerate_generation(source=source, seed=7, enqueue=False).seed == 7
    assert regenerate_generation(source=source, seed=None, enqueue=False).seed is None


def test_regenerate_keeping_the_seed_of_a_source_without_one_is_refused(plan):
    source = make(plan)  # not started: no seed drawn yet
    with pytest.raises(ValidationError) as info:
        regenerate_generation(source=source, enqueue=False)
    assert "no seed yet" in info.value.message_dict["seed"][0]
