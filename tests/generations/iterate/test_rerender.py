"""Re-render one scene: unaffected scenes are copied (no prediction), the rest render anew."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from generations.iterate.rerender import plan_rerender, rerender_scene
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from tests.generations.iterate.conftest import clip_bytes, predictions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def scenes_of(generation: Generation) -> list[Scene]:
    return list(generation.scenes.order_by("index"))


def test_rerendering_scene_3_of_4_makes_exactly_two_predictions(original, media_root):
    before = predictions()
    new = rerender_scene(source=original, number=3, prompt="a stormy lake at dusk")
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    assert len(predictions() - before) == 2
    old, fresh = scenes_of(original), scenes_of(new)
    assert [bool(s.prediction_id) for s in fresh] == [False, False, True, True]
    for index in (0, 1):  # byte-identical copies, recorded as reused
        assert clip_bytes(fresh[index]) == clip_bytes(old[index])
        assert fresh[index].recipe["rendered"] is False
        assert fresh[index].recipe["reused_from"] == {
            "generation": str(original.pk),
            "scene": index + 1,
        }
        assert fresh[index].cost == Decimal(0)
    for index in (2, 3):  # rendered again: a new prompt, and scene 4 starts from the new scene 3
        assert fresh[index].recipe["rendered"] is True
        assert clip_bytes(fresh[index]) != clip_bytes(old[index])
    assert fresh[3].handover_from_id == fresh[2].pk
    expected = media.sha256_file(Path(media_root) / fresh[2].final_latent.name)
    assert fresh[3].handover_sha256 == expected
    # The new video and report are complete: every scene's frames, a boundary per cut.
    info = media.probe(Path(media_root) / new.video.name)
    assert info.frame_count == new.frame_count == sum(s.frame_count for s in fresh)
    assert len(new.coherence_report["scenes"]) == 4
    assert len(new.coherence_report["boundaries"]) == 3
    assert new.coherence_score is not None
    assert new.source_generation_id == original.pk
    assert new.seed == original.seed


def test_a_new_seed_for_one_scene_changes_that_scene_only(original, media_root):
    new = rerender_scene(source=original, number=1, seed=1234)
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    fresh, old = scenes_of(new), scenes_of(original)
    assert [s.seed for s in fresh] == [1234, original.seed, old[2].seed, old[3].seed]
    assert [s.recipe["rendered"] for s in fresh] == [True, True, False, False]
    assert clip_bytes(fresh[0]) != clip_bytes(old[0])
    assert clip_bytes(fresh[2]) == clip_bytes(old[2])


def test_the_same_seed_and_prompt_reproduce_the_scene(original, media_root):
    """With nothing changed, the re-rendered scenes are the same frames (the local model is
    deterministic), which shows the copies upstream hand over the same latent."""
    new = rerender_scene(source=original, number=4)
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    assert scenes_of(new)[3].handover_sha256 == scenes_of(original)[3].handover_sha256


def test_plan_says_what_renders_and_what_is_copied(original):
    planned = plan_rerender(source=original, number=1)
    assert (planned.rendered, planned.reused) == ((0, 1), (2, 3))
    assert planned.estimated_cost == Decimal(0)  # the local model is free


@pytest.mark.parametrize("number", [0, 5, "2", None, True])
def test_a_scene_number_out_of_range_is_refused(original, number):
    with pytest.raises(ValidationError) as caught:
        rerender_scene(source=original, number=number)
    assert "scene" in caught.value.message_dict


def test_a_scene_without_a_finished_render_cannot_be_reused(original):
    Scene.objects.filter(generation=original, index=1).update(status=Scene.Status.FAILED)
    with pytest.raises(ValidationError, match=r"Scene\(s\) 2 of the source have no finished"):
        rerender_scene(source=original, number=3)
    assert Generation.objects.count() == 1


def test_without_latent_reuse_only_the_scene_itself_renders(plan, media_root):
    source = create_generation(
        GenerationRequest(scenes=plan, coherence_settings={"latent_reuse": False})
    )
    source.refresh_from_db()
    before = predictions()
    new = rerender_scene(source=source, number=3, seed=None)  # and a fresh seed for it
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    fresh = scenes_of(new)
    assert [s.recipe["rendered"] for s in fresh] == [False, False, True, False]
    assert len(predictions() - before) == 1
    assert fresh[2].seed != source.seed and fresh[2].seed == fresh[2].seed_override


def test_a_preview_rerenders_as_a_preview(plan, media_root):
    preview = create_generation(GenerationRequest(scenes=plan, quality="preview"))
    preview.refresh_from_db()
    new = rerender_scene(source=preview, number=2, duration=3.0)
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    assert (new.quality, new.width, new.height) == ("preview", preview.width, preview.height)
    second = scenes_of(new)[1]
    assert (second.duration, second.planned_duration) == (0.5, 3.0)
    assert clip_bytes(scenes_of(new)[0]) == clip_bytes(scenes_of(preview)[0])
