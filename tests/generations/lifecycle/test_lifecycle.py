"""The pipeline end to end in django-q2's sync mode, on the real local model and real files."""

from pathlib import Path

import numpy as np
import pytest

from generations.lifecycle import failure, start, submit
from generations.lifecycle.outcome import GenerationStateError
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.providers.base import ProviderError

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def run(plan, **kwargs) -> Generation:
    generation = create_generation(
        GenerationRequest(scenes=plan, **kwargs)
    )  # runs inline: sync mode + on_commit
    generation.refresh_from_db()
    return generation


def scenes_of(generation: Generation) -> list[Scene]:
    return list(generation.scenes.order_by("index"))


def test_a_generation_runs_to_a_stitched_video(plan, media_root):
    generation = run(plan)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert generation.progress == 100
    video = Path(media_root) / generation.video.name
    info = media.probe(video)
    assert info.codec == "h264"
    assert info.frame_count == sum(s.frame_count for s in scenes_of(generation))
    assert info.frame_count == generation.frame_count == 4 * 12


def test_the_seed_is_stored_and_sent_to_every_scene(plan, media_root):
    generation = run(plan)
    assert generation.seed is not None
    for scene in scenes_of(generation):
        assert scene.seed == generation.seed
        assert scene.provider_input["seed"] == generation.seed
        assert scene.recipe["seed"] == generation.seed
        assert scene.seed_applied is True


def test_offset_mode_sends_seed_plus_index(plan, media_root):
    generation = run(plan, seed=100, coherence_settings={"seed_mode": "offset"})
    assert [s.provider_input["seed"] for s in scenes_of(generation)] == [100, 101, 102, 103]


def test_seed_control_off_sends_no_seed_at_all(plan, media_root):
    generation = run(plan, coherence_settings={"seed_control": False})
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.seed is None
    for scene in scenes_of(generation):
        assert "seed" not in scene.provider_input
        assert scene.seed is None
        assert scene.seed_applied is None


def test_continuous_scenes_start_from_exactly_their_predecessors_latent(plan, media_root):
    generation = run(plan)
    scenes = scenes_of(generation)
    for scene in scenes:
        if scene.continuous:
            source = scenes[scene.index - 1]
            expected = media.sha256_file(Path(media_root) / source.final_latent.name)
            assert scene.handover_from_id == source.pk
            assert scene.handover_method == Scene.HandoverMethod.LATENT
            assert scene.handover_sha256 == expected
            assert scene.provider_input["init_latent"] == f"sha256:{expected}"
        else:
            assert scene.handover_method == ""
            assert scene.handover_sha256 == ""
            assert "init_latent" not in scene.provider_input


def test_latent_reuse_off_passes_nothing(plan, media_root):
    generation = run(plan, coherence_settings={"latent_reuse": False})
    for scene in scenes_of(generation):
        assert scene.handover_method == ""
        assert "init_latent" not in scene.provider_input


def test_latent_handoff_makes_a_seamless_boundary(plan, media_root):
    generation = run(plan)
    first, second = scenes_of(generation)[:2]
    last = media.load_png(Path(media_root) / first.last_frame.name)
    opening = media.first_frame(Path(media_root) / second.clip.name)
    assert media.ssim(last, opening) >= 0.8


def test_a_continuous_scene_is_submitted_only_after_its_predecessor_finished(plan, media_root):
    scenes = scenes_of(run(plan))
    for scene in scenes:
        if scene.continuous:
            assert scene.submitted_at >= scenes[scene.index - 1].finished_at


def test_the_final_video_carries_the_recipe(plan, media_root):
    import json

    generation = run(plan, seed=321)
    recipe = json.loads(
        media.read_metadata(Path(media_root) / generation.video.name)["coherence_recipe"]
    )
    assert recipe["seed"] == 321
    assert [s["prompt"] for s in recipe["scenes"]] == [s["prompt"] for s in plan]


def test_the_coherence_score_is_stored_with_its_report(plan, media_root):
    generation = run(plan)
    assert 0.0 <= generation.coherence_score <= 1.0
    assert len(generation.coherence_report["boundaries"]) == 3


def test_a_generation_cannot_be_started_twice(plan, media_root):
    generation = run(plan)
    with pytest.raises(GenerationStateError, match="only a queued generation can be started"):
        start.start_generation(generation_id=generation.pk)


def test_a_failing_scene_fails_the_generation_and_keeps_finished_scenes(
    plan, media_root, monkeypatch
):
    from pipeline.providers.local import LocalProvider

    real_submit = LocalProvider.submit

    def submit(self, request):
        if "leaps" in request.prompt:
            raise ProviderError("the model ran out of memory")
        return real_submit(self, request)

    monkeypatch.setattr(LocalProvider, "submit", submit)
    generation = run(plan)
    assert generation.status == Generation.Status.FAILED
    assert "Scene 2 failed: the model ran out of memory" in generation.error
    scenes = scenes_of(generation)
    assert scenes[0].status == Scene.Status.SUCCEEDED
    assert (Path(media_root) / scenes[0].clip.name).exists()


def _lose_first_outputs(generation, media_root, *fields):
    """Run scene 1, then delete the named outputs of it (file and reference)."""
    start.start_generation(generation_id=generation.pk)
    first, second = scenes_of(generation)[:2]
    submit.run_scene(scene_id=first.pk)
    first.refresh_from_db()
    for field in fields:
        (Path(media_root) / getattr(first, field).name).unlink()
    Scene.objects.filter(pk=first.pk).update(**{field: "" for field in fields})
    return first, second


def test_a_lost_latent_falls_back_to_the_last_frame_and_says_why(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    first, second = _lose_first_outputs(generation, media_root, "final_latent")
    submit.run_scene(scene_id=second.pk)
    second.refresh_from_db()
    assert second.status == Scene.Status.SUCCEEDED
    assert second.handover_method == Scene.HandoverMethod.FIRST_FRAME
    assert second.handover_from_id == first.pk
    handover = second.recipe["handover"]
    assert handover["method"] == "first_frame"
    assert handover["fallback"] == "latent: scene 1 has no final latent"
    assert (
        handover["sha256"]
        == second.handover_sha256
        == media.sha256_file(Path(media_root) / first.last_frame.name)
    )


def test_a_predecessor_that_left_nothing_stops_the_chain_instead_of_submitting_blind(
    plan, media_root
):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    _, second = _lose_first_outputs(generation, media_root, "final_latent", "last_frame")
    submit.run_scene(scene_id=second.pk)
    second.refresh_from_db()
    generation.refresh_from_db()
    assert second.status == Scene.Status.FAILED
    assert second.prediction_id == ""
    assert "scene 1 has no final latent" in generation.error
    assert "refusing to render it without conditioning" in generation.error


def test_cancel_stops_new_submissions(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    assert failure.stop_generation(generation_id=generation.pk) is True
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    for scene in scenes_of(generation):
        submit.run_scene(scene_id=scene.pk)
        scene.refresh_from_db()
        assert scene.status == Scene.Status.CANCELED
        assert scene.prediction_id == ""
    assert failure.stop_generation(generation_id=generation.pk) is False


def test_identical_recipes_render_identical_scenes(plan, media_root):
    first = run(plan, seed=5)
    second = run(plan, seed=5)
    a = media.sample_frames(Path(media_root) / first.video.name, 4)
    b = media.sample_frames(Path(media_root) / second.video.name, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
