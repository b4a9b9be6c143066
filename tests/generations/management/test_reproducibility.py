"""The services behind regeneration checks: comparing videos and replaying embedded recipes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from generations.models import Generation
from generations.selectors import generation_recipe
from generations.services.reproduce import (
    compare_regeneration,
    recipe_from_video,
    regenerate_generation,
    replay_recipe,
    replay_video,
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


def video_of(generation: Generation) -> Path:
    generation.refresh_from_db()
    return Path(settings.MEDIA_ROOT) / generation.video.name


def test_the_recipe_read_from_a_video_is_the_generations_recipe_without_its_id(finished):
    recipe = recipe_from_video(video_of(finished))
    assert recipe == generation_recipe(finished)
    assert recipe["seed"] == finished.seed
    assert len(recipe["scenes"]) == 4
    # The id stays in the database: the file holds neither it nor any other id.
    data = video_of(finished).read_bytes()
    assert str(finished.pk).encode() not in data
    assert finished.pk.hex.encode() not in data
    assert "generation" not in recipe


def test_the_same_recipe_gives_the_same_final_bytes(finished):
    first = regenerate_generation(source=finished)
    second = regenerate_generation(source=finished)
    digests = {media.sha256_file(video_of(g)) for g in (finished, first, second)}
    assert len(digests) == 1
    # The digest is what the database keeps to trace a file back to its generations.
    finished.refresh_from_db()
    assert finished.video_sha256 == digests.pop()
    assert Generation.objects.filter(video_sha256=finished.video_sha256).count() == 3


def test_another_title_is_another_recipe_and_other_bytes(finished):
    retitled = regenerate_generation(source=finished, title="Fox and lake, again")
    assert media.sha256_file(video_of(retitled)) != media.sha256_file(video_of(finished))
    assert recipe_from_video(video_of(retitled))["title"] == "Fox and lake, again"


def test_replaying_a_video_links_the_first_generation_that_made_those_bytes(finished):
    regenerated = regenerate_generation(source=finished)
    replay = replay_video(path=video_of(regenerated), seed=77)
    assert replay.seed == 77
    assert replay.source_generation == finished
    assert replay.render_settings == finished.render_settings


def test_replaying_a_video_of_an_unknown_generation_links_nothing(finished, tmp_path):
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(video_of(finished).read_bytes())
    Generation.objects.filter(pk=finished.pk).delete()
    replay = replay_video(path=copy)
    assert replay.source_generation is None
    assert replay.seed == finished.seed


def test_a_video_made_before_ids_left_the_file_still_links_its_generation(finished, tmp_path):
    # Older final videos named their generation in the recipe; their bytes match no digest.
    recipe = {**generation_recipe(finished), "generation": str(finished.pk)}
    older = tmp_path / "older.mp4"
    frames = media.sample_frames(video_of(finished), 2)
    media.encode(frames, older, fps=12, metadata={"coherence_recipe": json.dumps(recipe)})
    assert replay_video(path=older).source_generation == finished


def test_replaying_a_recipe_with_unknown_settings_is_refused(finished):
    recipe = recipe_from_video(Path(settings.MEDIA_ROOT) / finished.video.name)
    recipe["coherence_settings"]["seed_contol"] = True
    with pytest.raises(ValidationError) as info:
        replay_recipe(recipe=recipe, enqueue=False)
    assert "coherence_settings.seed_contol" in info.value.message_dict
    assert Generation.objects.count() == 1
