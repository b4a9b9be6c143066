"""Previews at the model's cheapest settings, and finalize at full quality with the same seed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from generations.iterate import finalize as finalize_module
from generations.iterate.estimates import request_estimate
from generations.iterate.finalize import finalize_estimate, finalize_preview
from generations.lifecycle.engine import get_model
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.delete import delete_generation
from generations.services.request import GenerationRequest
from pipeline import cheapest_settings, media
from pipeline.providers.registry import KLING_V21, LOCAL_MODEL, SEEDANCE_LITE
from tests.generations.iterate.conftest import predictions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


@pytest.fixture
def preview(plan, media_root, user) -> Generation:
    generation = create_generation(GenerationRequest(scenes=plan, quality="preview"), owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation


def test_a_preview_renders_smaller_and_shorter_with_the_plan_kept(preview, media_root):
    assert (preview.width, preview.height) == (114, 64)  # 128x72 halved, short side >= 64
    scenes = list(preview.scenes.order_by("index"))
    assert [s.duration for s in scenes] == [0.5] * 4  # the shortest scene allowed
    assert [s.planned_duration for s in scenes] == [1.0] * 4
    info = media.probe(media_root / scenes[0].clip.name)
    assert (info.width, info.height, info.frame_count) == (114, 64, 6)


def test_finalize_renders_the_same_plan_and_seed_at_full_quality(preview, media_root):
    before = predictions()
    final, created = finalize_preview(preview=preview)
    assert created
    final.refresh_from_db()
    assert final.status == Generation.Status.SUCCEEDED, final.error
    assert (final.quality, final.width, final.height) == ("full", 128, 72)
    assert final.seed == preview.seed
    assert final.source_generation_id == preview.pk
    assert [s.duration for s in final.scenes.order_by("index")] == [1.0] * 4
    assert len(predictions() - before) == 4  # nothing in a preview matches full quality
    assert final.frame_count == 4 * 12


def test_only_a_preview_can_be_finalized(preview):
    full, _ = finalize_preview(preview=preview, enqueue=False)
    with pytest.raises(ValidationError) as caught:
        finalize_preview(preview=full)
    assert "quality" in caught.value.message_dict


def test_a_second_finalize_returns_the_first_and_starts_nothing(preview, monkeypatch):
    first, created = finalize_preview(preview=preview)
    assert created
    before, queued = predictions(), []
    monkeypatch.setattr(finalize_module, "enqueue_start_generation", queued.append)
    again, created_again = finalize_preview(preview=preview, title="another title")
    assert (again.pk, created_again) == (first.pk, False)
    assert Generation.objects.filter(quality="full").count() == 1
    assert predictions() == before
    assert queued == []


def stale_first_look(monkeypatch) -> list:
    """The first look for a finalized generation finds none (made before the winner
    committed); later looks are real. Returns the list of looks made."""
    real_look, looks = finalize_module.finalized_generation, []

    def look(preview):
        looks.append(preview)
        return None if len(looks) == 1 else real_look(preview)

    monkeypatch.setattr(finalize_module, "finalized_generation", look)
    return looks


def test_the_loser_of_a_race_gets_the_winners_generation(preview, monkeypatch):
    """The interleaving of a race, in order: the loser looked for a finalized generation before
    the winner committed, so its look found none; the unique column then refuses its insert."""
    winner, _ = finalize_preview(preview=preview, enqueue=False)
    looks = stale_first_look(monkeypatch)
    queued: list = []
    monkeypatch.setattr(finalize_module, "enqueue_start_generation", queued.append)
    loser, created = finalize_preview(preview=preview)
    assert (loser.pk, created) == (winner.pk, False)
    assert len(looks) == 2  # the stale look, then the look after the database refused
    assert list(Generation.objects.filter(quality="full")) == [winner]
    assert queued == []  # the loser's transaction, its on-commit enqueue included, rolled back


def test_the_loser_refused_by_the_active_cap_gets_the_winners_generation(
    preview, monkeypatch, settings
):
    # The winner is queued (not started): it holds the owner's only active place.
    settings.COHERENCE = {**settings.COHERENCE, "MAX_ACTIVE_PER_USER": 1}
    winner, _ = finalize_preview(preview=preview, enqueue=False)
    looks = stale_first_look(monkeypatch)
    loser, created = finalize_preview(preview=preview)
    assert (loser.pk, created) == (winner.pk, False)
    assert len(looks) == 2
    assert Generation.objects.filter(quality="full").count() == 1


def test_a_deleted_finalized_generation_frees_its_preview(preview):
    first, _ = finalize_preview(preview=preview, enqueue=False)
    delete_generation(generation=first)
    second, created = finalize_preview(preview=preview, enqueue=False)
    assert created and second.pk != first.pk
    assert second.finalized_from == preview


def test_estimates_before_running(plan, preview, settings):
    assert finalize_estimate(preview) == Decimal(0)  # the local model costs nothing
    hosted = [dict(s, duration=5.0) for s in plan]
    # At a 1280x720 house format seedance-1-lite is asked for 720p ($0.036/s); its preview is
    # asked for 480p ($0.018/s) and 2 s, its shortest clip.
    settings.COHERENCE = {**settings.COHERENCE, "VIDEO_WIDTH": 1280, "VIDEO_HEIGHT": 720}
    estimate = request_estimate(scenes=hosted, provider="replicate", model=SEEDANCE_LITE)
    assert estimate["full"] == Decimal("0.72")  # 4 scenes x 5 s x $0.036
    assert estimate["preview"] == Decimal("0.144")  # 4 scenes x 2 s x $0.018
    with_variations = request_estimate(
        scenes=hosted, provider="replicate", model=SEEDANCE_LITE, variations=3
    )
    assert with_variations["variations"] == Decimal("0.54")  # 3 x the first scene at full


def test_the_cheapest_settings_follow_the_model():
    kling, seedance, local = get_model(KLING_V21), get_model(SEEDANCE_LITE), get_model(LOCAL_MODEL)
    assert cheapest_settings.shortest_duration(kling, min_seconds=0.5, fps=24) == 5.0
    assert cheapest_settings.shortest_duration(seedance, min_seconds=0.5, fps=24) == 2.0
    assert cheapest_settings.shortest_duration(local, min_seconds=0.5, fps=24) == 0.5
    assert cheapest_settings.preview_size(local, 512, 288, scale=0.5) == (256, 144)
    # A hosted model is asked for its lowest resolution label (seedance: 480p).
    assert cheapest_settings.preview_size(seedance, 1920, 1080, scale=0.5) == (854, 480)
    assert seedance.resolution_for(854, 480) == "480p"
