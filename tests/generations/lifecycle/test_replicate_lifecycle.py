"""Whole generations on hosted models: the real replicate client against the loopback server."""

import time
from pathlib import Path

import pytest
from django.utils import timezone

from generations.lifecycle import failure, start, submit
from generations.lifecycle.reconciler import reconcile
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.providers.registry import MINIMAX_VIDEO_01, SEEDANCE_LITE
from tests.doubles.replicate_server import ReplicateServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def run(plan, model=SEEDANCE_LITE, **kwargs) -> Generation:
    generation = create_generation(
        GenerationRequest(scenes=plan, provider="replicate", model=model, **kwargs)
    )
    generation.refresh_from_db()
    return generation


def scenes_of(generation: Generation) -> list[Scene]:
    return list(generation.scenes.order_by("index"))


def sent_inputs(server: ReplicateServer, generation: Generation) -> list[dict]:
    return [server.prediction(s.prediction_id)["input"] for s in scenes_of(generation)]


def test_a_seeded_image_model_gets_the_seed_everywhere_and_frames_only_on_continuous_scenes(
    server, plan
):
    generation = run(plan)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    inputs = sent_inputs(server, generation)
    assert [i["seed"] for i in inputs] == [generation.seed] * 4
    assert ["image" in i for i in inputs] == [False, True, False, True]
    for scene in scenes_of(generation):
        assert scene.seed_applied is True
        if scene.continuous:
            assert scene.handover_method == Scene.HandoverMethod.FIRST_FRAME
            assert scene.provider_input["image"] == f"sha256:{scene.handover_sha256}"


def test_the_conditioning_frame_is_exactly_the_predecessors_last_frame(server, plan, media_root):
    generation = run(plan)
    scenes = scenes_of(generation)
    second = scenes[1]
    expected = media.sha256_file(Path(media_root) / scenes[0].last_frame.name)
    assert second.handover_sha256 == expected


def test_each_scene_is_one_prediction_and_the_video_has_every_frame(server, plan, media_root):
    generation = run(plan)
    assert sum(server.created_by_model_prompt.values()) == 4
    info = media.probe(Path(media_root) / generation.video.name)
    assert info.frame_count == sum(s.frame_count for s in scenes_of(generation))
    assert generation.model_version == "hidden"  # recorded as reported, never sent back
    assert server.requests_by_endpoint["POST /v1/predictions"] == 0


def test_a_model_without_seed_input_is_never_sent_one(server, plan):
    generation = run(plan, model=MINIMAX_VIDEO_01)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert all("seed" not in i for i in sent_inputs(server, generation))
    for scene in scenes_of(generation):
        assert scene.seed_applied is False
        assert "no seed input" in scene.seed_note
    assert generation.warnings


def test_a_model_that_rejects_seed_is_retried_without_it_and_it_is_recorded(server, plan):
    # Defensive path only: a model that still answers 422 to a seed it does not declare.
    server.seedless_models = {SEEDANCE_LITE}
    server.strict_models = {SEEDANCE_LITE}
    generation = run(plan)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert all("seed" not in i for i in sent_inputs(server, generation))
    scene = scenes_of(generation)[0]
    assert scene.seed == generation.seed  # what we asked for…
    assert scene.seed_applied is False  # …and that it did not take
    assert "seed" in scene.seed_note
    assert any("Seed not applied" in w and SEEDANCE_LITE in w for w in generation.warnings)


def test_throttling_and_server_errors_on_create_are_retried(server, plan):
    server.burst_429 = 1
    server.burst_5xx = 2
    generation = run(plan[:2])
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert sum(server.created_by_model_prompt.values()) == 2


def test_a_failed_prediction_fails_the_generation_with_its_error(server, plan):
    server.fail_next = 1
    generation = run(plan[:1])
    assert generation.status == Generation.Status.FAILED
    assert "Scene 1 failed" in generation.error
    scene = scenes_of(generation)[0]
    assert scene.status == Scene.Status.FAILED
    assert scene.prediction_id in scene.error


def test_a_model_that_cannot_continue_is_refused_at_creation(server, plan, settings):
    from django.core.exceptions import ValidationError

    settings.COHERENCE = {
        **settings.COHERENCE,
        "EXTRA_MODELS": {"acme/text-only": {"provider": "replicate", "seed_input": "seed"}},
    }
    with pytest.raises(ValidationError) as info:
        create_generation(
            GenerationRequest(scenes=plan, provider="replicate", model="acme/text-only")
        )
    assert "cannot continue" in info.value.message_dict["model"][0]
    assert Generation.objects.count() == 0


def submit_one_slow_scene(server, plan) -> Scene:
    """A one-scene hosted generation, started and submitted; its prediction runs for 5 s."""
    server.latency = 5.0
    generation = create_generation(
        GenerationRequest(scenes=plan[:1], provider="replicate", model=SEEDANCE_LITE), enqueue=False
    )
    start.start_generation(generation_id=generation.pk)
    scene = generation.scenes.get()
    submit.run_scene(scene_id=scene.pk)
    scene.refresh_from_db()
    return scene


def test_cancel_cancels_the_predictions_in_flight(server, plan):
    scene = submit_one_slow_scene(server, plan)
    assert scene.status == Scene.Status.RUNNING
    assert failure.stop_generation(generation_id=scene.generation_id)
    assert server.prediction(scene.prediction_id)["status"] == "canceled"
    scene.refresh_from_db()
    assert scene.status == Scene.Status.CANCELED


def test_a_scene_canceled_while_its_prediction_was_created_gets_it_canceled(
    server, plan, monkeypatch
):
    from pipeline.providers.replicate import ReplicateProvider

    real_submit = ReplicateProvider.submit

    def submit_then_cancel(self, request):
        submission = real_submit(self, request)
        # Meanwhile, staff cancel the generation.
        failure.stop_generation(generation_id=Generation.objects.get().pk)
        return submission

    monkeypatch.setattr(ReplicateProvider, "submit", submit_then_cancel)
    scene = submit_one_slow_scene(server, plan)

    assert scene.status == Scene.Status.CANCELED
    assert scene.prediction_id  # kept for the record…
    assert server.prediction(scene.prediction_id)["status"] == "canceled"  # …and stopped


def test_the_reconciler_looks_once_and_starts_no_poller(server, plan):
    scene = submit_one_slow_scene(server, plan)
    looks_before = server.requests_by_prediction[scene.prediction_id]
    # Not due yet (it was just submitted): the reconciler's pass leaves it alone.
    assert reconcile(stale_after=0).polled == []
    assert server.requests_by_prediction[scene.prediction_id] == looks_before
    # Due (e.g. its webhook never came): one look in one pass.
    Scene.objects.filter(pk=scene.pk).update(next_poll_at=timezone.now())

    started = time.monotonic()
    report = reconcile(stale_after=0)

    assert report.polled == [scene.pk]
    assert time.monotonic() - started < 2.0  # one look, not a polling loop until the end
    assert server.requests_by_prediction[scene.prediction_id] == looks_before + 1
    scene.refresh_from_db()
    assert scene.status == Scene.Status.RUNNING
