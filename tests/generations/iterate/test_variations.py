"""Seed variations: N seeds, scored, ranked; choosing one starts the full plan with its seed."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError

from generations.iterate.variations import (
    NoSuchVariation,
    VariationStateError,
    choose_variation,
    chosen_variation,
    create_with_variations,
    ranked_variations,
)
from generations.models import Generation
from generations.services.cancel import cancel_generation
from generations.services.request import GenerationRequest
from pipeline import media
from tests.generations.iterate.conftest import clip_bytes, predictions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


@pytest.fixture
def parent(plan, media_root, user) -> Generation:
    return create_with_variations(
        GenerationRequest(variations=3, scenes=plan, title="Fox"), owner=user
    )


def test_variations_render_the_first_scene_with_distinct_seeds(parent, media_root):
    parent.refresh_from_db()
    assert parent.status == Generation.Status.AWAITING_CHOICE
    assert parent.stage == "variations ready: choose one"
    variations = list(parent.variations.order_by("variation_number"))
    assert [v.variation_number for v in variations] == [1, 2, 3]
    assert len({v.seed for v in variations}) == 3
    for variation in variations:
        assert variation.status == Generation.Status.SUCCEEDED, variation.error
        assert variation.scenes.count() == 1
        assert variation.coherence_score is not None
        thumbnail = media.load_png(media_root / variation.thumbnail.name)
        first = media.first_frame(media_root / variation.scenes.get().clip.name)
        assert thumbnail.shape == first.shape == (72, 128, 3)


def test_the_ranking_follows_the_scores_then_the_measured_steadiness(parent):
    ranked = ranked_variations(parent)
    scores = [v.coherence_score for v in ranked]
    assert scores == sorted(scores, reverse=True)
    # Tied scores are ordered by the report's own noise measurement, lowest first.
    noise = [
        (v.coherence_score, sum(s["noise"] for s in v.coherence_report["scenes"])) for v in ranked
    ]
    for (score_a, noise_a), (score_b, noise_b) in pairwise(noise):
        assert score_a > score_b or noise_a <= noise_b
    assert len({n for _, n in noise}) == 3  # different seeds really measure differently


def test_choosing_starts_the_full_plan_and_reuses_the_chosen_render(parent, media_root):
    best = ranked_variations(parent)[0]
    before = predictions()
    chosen = choose_variation(parent=parent, number=best.variation_number)
    chosen.refresh_from_db()
    assert chosen.status == Generation.Status.SUCCEEDED, chosen.error
    assert chosen.seed == best.seed
    assert chosen_variation(chosen) == best
    scenes = list(chosen.scenes.order_by("index"))
    assert len(predictions() - before) == 3  # scene 1 is the variation's own render
    assert clip_bytes(scenes[0]) == clip_bytes(best.scenes.get())
    assert scenes[0].recipe["reused_from"] == {"generation": str(best.pk), "scene": 1}
    assert all(s.seed == best.seed for s in scenes)
    with pytest.raises(VariationStateError):
        choose_variation(parent=chosen, number=1)


def test_plan_scope_renders_previews_of_the_whole_plan(plan, media_root, user):
    parent = create_with_variations(
        GenerationRequest(variations=2, variations_scope="plan", scenes=plan), owner=user
    )
    for variation in parent.variations.all():
        assert (variation.quality, variation.scenes.count()) == ("preview", 4)
        assert variation.status == Generation.Status.SUCCEEDED, variation.error
    before = predictions()
    chosen = choose_variation(parent=parent, number=2)
    chosen.refresh_from_db()
    assert chosen.status == Generation.Status.SUCCEEDED, chosen.error
    assert len(predictions() - before) == 4  # a preview is never full quality


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"variations": 1}, "variations"),
        ({"variations": 9}, "variations"),
        ({"variations": "3"}, "variations"),
        ({"variations": 3, "variations_scope": "all"}, "variations_scope"),
        ({"variations": 3, "seed": 7}, "seed"),
    ],
)
def test_bad_variation_requests_are_refused(plan, fields, key):
    with pytest.raises(ValidationError) as caught:
        create_with_variations(GenerationRequest(scenes=plan, **fields), enqueue=False)
    assert key in caught.value.message_dict
    assert not Generation.objects.exists()


def test_an_unknown_variation_cannot_be_chosen(plan):
    parent = create_with_variations(GenerationRequest(variations=2, scenes=plan), enqueue=False)
    with pytest.raises(NoSuchVariation):
        choose_variation(parent=parent, number=3)


def test_canceling_the_parent_cancels_its_unfinished_variations(plan):
    parent = create_with_variations(GenerationRequest(variations=2, scenes=plan), enqueue=False)
    assert cancel_generation(generation=parent) is True
    statuses = set(parent.variations.values_list("status", flat=True))
    assert statuses == {Generation.Status.CANCELED}
    with pytest.raises(VariationStateError):
        choose_variation(parent=parent, number=1)


def test_an_unfinished_variation_cannot_be_chosen_yet(plan):
    parent = create_with_variations(GenerationRequest(variations=2, scenes=plan), enqueue=False)
    with pytest.raises(VariationStateError, match="choose it once it has finished"):
        choose_variation(parent=parent, number=1)
    parent.refresh_from_db()
    assert parent.status == Generation.Status.AWAITING_CHOICE


def test_a_one_scene_plan_is_finished_by_its_chosen_variation_alone(plan, media_root):
    parent = create_with_variations(GenerationRequest(variations=2, scenes=plan[:1]))
    before = predictions()
    chosen = choose_variation(parent=parent, number=2)
    chosen.refresh_from_db()
    # Every scene was reused: nothing to render, straight to the stitch and the score.
    assert chosen.status == Generation.Status.SUCCEEDED, chosen.error
    assert predictions() == before
    assert chosen.coherence_score is not None and chosen.cost == 0
