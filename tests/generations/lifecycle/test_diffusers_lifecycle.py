"""A continuous plan on a diffusers model, through the whole lifecycle (django-q2's sync mode).

The real cluster runs the same plan in tests/integration/test_diffusers_cluster.py; this one
checks what a staff user and an API consumer see of the hand-over, and the refusals at create.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]

PLAN = [
    {"prompt": "a lighthouse at night", "duration": 0.5},
    {"prompt": "the beam sweeps the sea", "duration": 0.5, "continuous": True},
    {"prompt": "a storm rolls in", "duration": 0.5, "continuous": True},
]


@pytest.fixture
def diffusers_settings(settings, media_root):
    from pipeline.providers import reset_providers

    settings.COHERENCE = {**settings.COHERENCE, "DIFFUSERS_STEPS": 2}
    reset_providers()
    yield
    reset_providers()


def run(model: Path, **kwargs) -> Generation:
    generation = create_generation(
        GenerationRequest(scenes=PLAN, provider="diffusers", model=str(model), seed=4242, **kwargs)
    )
    generation.refresh_from_db()
    return generation


def stored(media_root, field) -> Path:
    return Path(media_root) / field.name


@pytest.mark.parametrize("family", ["ltx", "wan"])
def test_continuous_scenes_start_from_the_stored_final_latent(
    tiny_models, diffusers_settings, media_root, family
):
    generation = run(tiny_models[family])
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    scenes = list(generation.scenes.order_by("index"))
    for scene in scenes:
        assert scene.recipe["seed"] == scene.provider_input["seed"] == generation.seed
        assert scene.seed_applied is True
        assert scene.final_latent, "every scene keeps its final latent"
        render = scene.recipe["render"]
        assert render["family"] == family and render["rendered"]["frames"] >= 9
    assert scenes[0].handover_method == Scene.HandoverMethod.NONE
    for before, after in pairwise(scenes):
        latent = stored(media_root, before.final_latent)
        assert after.handover_method == Scene.HandoverMethod.LATENT
        assert after.handover_from_id == before.pk
        assert after.handover_sha256 == media.sha256_file(latent)
        assert after.handover_sha256 == before.recipe["final_latent_sha256"]
        assert after.recipe["handover"] == {
            "method": "latent",
            "source_scene": before.index,
            "sha256": after.handover_sha256,
            "fallback": None,
        }
        held = np.load(stored(media_root, after.final_latent))[:, :, :1]
        assert np.array_equal(held, np.load(latent)[:, :, -1:])
    assert media.probe(stored(media_root, generation.video)).frame_count == generation.frame_count


def test_same_seed_same_clips_and_latent_reuse_off_changes_the_continuation(
    tiny_models, diffusers_settings, media_root
):
    def clips(generation):
        return [
            media.sha256_file(stored(media_root, s.clip))
            for s in generation.scenes.order_by("index")
        ]

    first = run(tiny_models["wan"])
    again = run(tiny_models["wan"])
    cold = run(tiny_models["wan"], coherence_settings={"latent_reuse": False})
    assert clips(first) == clips(again)
    assert clips(cold)[0] == clips(first)[0]
    assert clips(cold)[1] != clips(first)[1]
    assert not any(s.handover_method for s in cold.scenes.all())


def test_a_latent_from_another_size_falls_back_to_the_frame_and_says_why(
    tiny_models, diffusers_settings, media_root
):
    """A scene rendered elsewhere (another model or size: re-rendered scenes, previews) leaves
    a latent that does not fit; the continuation goes through its last frame instead."""
    from generations.lifecycle import start, submit

    generation = create_generation(
        GenerationRequest(scenes=PLAN[:2], provider="diffusers", model=str(tiny_models["wan"])),
        enqueue=False,
    )
    start.start_generation(generation_id=generation.pk)
    first, second = generation.scenes.order_by("index")
    submit.run_scene(scene_id=first.pk)
    first.refresh_from_db()
    Scene.objects.filter(pk=first.pk).update(recipe={**first.recipe, "width": 64, "height": 32})
    submit.run_scene(scene_id=second.pk)
    second.refresh_from_db()
    assert second.status == Scene.Status.SUCCEEDED, second.error
    assert second.handover_method == Scene.HandoverMethod.FIRST_FRAME
    assert second.recipe["handover"]["fallback"] == "latent: scene 1 was rendered at 64x32"
    assert second.handover_sha256 == media.sha256_file(stored(media_root, first.last_frame))


def test_unusable_models_are_refused_at_create_naming_model(tmp_path, diffusers_settings):
    for model, reason in [
        (str(tmp_path / "nowhere"), "not a directory"),
        (str(tmp_path), "holds no model_index.json"),
        ("someone/unknown-video-model", "unknown diffusers model"),
    ]:
        with pytest.raises(ValidationError) as refused:
            create_generation(GenerationRequest(scenes=PLAN, provider="diffusers", model=model))
        assert reason in " ".join(refused.value.message_dict["model"])
    with pytest.raises(ValidationError) as refused:
        create_generation(GenerationRequest(scenes=PLAN, provider="diffusers"))
    assert "needs a model" in " ".join(refused.value.message_dict["model"])
    assert not Generation.objects.exists()


def test_an_image_led_model_refuses_a_head_without_an_image_at_create(
    tiny_models, diffusers_settings
):
    model = str(tiny_models["wan-i2v"])
    with pytest.raises(ValidationError) as refused:
        create_generation(GenerationRequest(scenes=PLAN, provider="diffusers", model=model))
    assert "Scene 1" in str(refused.value.message_dict)
    assert not Generation.objects.exists()


def test_an_image_led_model_runs_a_plan_whose_head_has_its_image(
    tiny_models, diffusers_settings, media_root, tmp_path
):
    image = tmp_path / "start.png"
    media.save_png(np.full((72, 128, 3), (30, 90, 200), dtype=np.uint8), image)
    scenes = [{**PLAN[0], "image": image}, *PLAN[1:]]
    generation = create_generation(
        GenerationRequest(
            scenes=scenes, provider="diffusers", model=str(tiny_models["wan-i2v"]), seed=7
        )
    )
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    methods = [s.handover_method for s in generation.scenes.order_by("index")]
    assert methods == ["", "latent", "latent"]


def test_denoising_progress_shows_in_the_stage_and_a_cancel_stops_the_render(
    tiny_models, diffusers_settings, media_root
):
    """The submit step's callback: progress into the generation's stage while the scene
    is this worker's; once the generation is canceled, it says stop (between two steps)."""
    from generations.lifecycle import failure, start, submit

    generation = create_generation(
        GenerationRequest(scenes=PLAN[:1], provider="diffusers", model=str(tiny_models["wan"])),
        enqueue=False,
    )
    start.start_generation(generation_id=generation.pk)
    scene = generation.scenes.get()
    assert submit._claim_submission(scene)
    report = submit._progress_reporter(scene)
    assert report(0.5) is True
    generation.refresh_from_db()
    assert generation.stage == "rendering scene 1: 50% denoised"
    assert report(0.75) is True  # within the second: no look, no write
    generation.refresh_from_db()
    assert generation.stage == "rendering scene 1: 50% denoised"
    assert failure.stop_generation(generation_id=generation.pk)
    assert report(1.0) is False
    generation.refresh_from_db()
    assert generation.stage == "canceled"
