"""The services behind regeneration checks: comparing videos and replaying embedded recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from generations.models import Generation
from generations.services import (
    compare_regeneration,
    recipe_from_video,
    regenerate_generation,
    replay_recipe,
)
from pipeline import media
from pipeline.compare import DIFFERENT, IDENTICAL, NOT_COMPARED, SIMILAR, compare_videos

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def clip_of(generation: Generation, index: int) -> Path:
    return Path(settings.MEDIA_ROOT) / generation.scenes.get(index=index).clip.name


def reencoded(path: Path, out: Path, *, brighten: int = 0) -> Path:
    """The same frames encoded again (optionally a little brighter): new bytes, same content."""
    frames = media.sample_frames(path, media.probe(path).frame_count)
    shifted = [np.clip(f.astype(np.int16) + brighten, 0, 255).astype(np.uint8) for f in frames]
    media.encode(shifted, out, fps=12)
    return out


def test_a_file_compared_with_itself_is_identical_byte_for_byte(finished):
    clip = clip_of(finished, 0)
    comparison = compare_videos(clip, clip, label="scene 1")
    assert comparison.verdict == IDENTICAL
    assert comparison.bytes_equal


def test_a_slightly_changed_clip_is_similar_but_not_identical(finished, tmp_path):
    clip = clip_of(finished, 0)
    comparison = compare_videos(
        clip, reencoded(clip, tmp_path / "brighter.mp4", brighten=3), label="scene 1"
    )
    assert comparison.verdict == SIMILAR
    assert not comparison.bytes_equal
    assert not comparison.frames_equal
    assert comparison.min_ssim >= 0.95


def test_another_scene_is_different(finished):
    comparison = compare_videos(clip_of(finished, 0), clip_of(finished, 2), label="scene 1")
    assert comparison.verdict == DIFFERENT
    assert comparison.min_ssim < 0.95


def test_an_unreadable_video_is_not_compared(finished, tmp_path):
    comparison = compare_videos(clip_of(finished, 0), tmp_path / "gone.mp4", label="scene 1")
    assert comparison.verdict == NOT_COMPARED
    assert "gone.mp4" in comparison.note


def test_a_regeneration_with_the_same_seed_matches_scene_by_scene(finished):
    copy = regenerate_generation(source=finished)
    copy.refresh_from_db()
    comparisons = compare_regeneration(original=finished, regenerated=copy)
    assert [c.label for c in comparisons] == [
        "scene 1",
        "scene 2",
        "scene 3",
        "scene 4",
        "final video",
    ]
    assert {c.verdict for c in comparisons} == {IDENTICAL}


def test_a_scene_without_a_clip_is_named_and_not_compared(finished):
    copy = regenerate_generation(source=finished)
    finished.scenes.filter(index=1).update(clip="")
    comparisons = compare_regeneration(original=finished, regenerated=copy)
    assert comparisons[1].verdict == NOT_COMPARED
    assert comparisons[1].note == "the original scene has no clip"


def test_the_recipe_read_from_a_video_is_the_generations_recipe(finished):
    recipe = recipe_from_video(Path(settings.MEDIA_ROOT) / finished.video.name)
    assert recipe["generation"] == str(finished.pk)
    assert recipe["seed"] == finished.seed_value
    assert len(recipe["scenes"]) == 4


def test_replaying_a_recipe_can_override_the_seed(finished):
    recipe = recipe_from_video(Path(settings.MEDIA_ROOT) / finished.video.name)
    replay = replay_recipe(recipe=recipe, seed=77, enqueue=False)
    assert replay.seed_value == 77
    assert replay.source_generation == finished
    assert replay.coherence_settings == finished.coherence_settings


def test_replaying_a_recipe_with_unknown_settings_is_refused(finished):
    recipe = recipe_from_video(Path(settings.MEDIA_ROOT) / finished.video.name)
    recipe["coherence_settings"]["seed_contol"] = True
    with pytest.raises(ValidationError) as info:
        replay_recipe(recipe=recipe, enqueue=False)
    assert "coherence_settings.seed_contol" in info.value.message_dict
    assert Generation.objects.count() == 1
