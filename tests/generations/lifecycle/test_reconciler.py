"""The reconciler moves whatever is stuck, and never submits a scene that has a prediction id."""

import pytest
from django.utils import timezone

from generations.lifecycle import start, submit
from generations.lifecycle.reconciler import reconcile
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def test_a_lost_start_task_is_started_by_the_reconciler(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    report = reconcile(stale_after=0)
    generation.refresh_from_db()
    assert report.started == [str(generation.pk)]
    assert generation.status == Generation.Status.SUCCEEDED


def test_a_scene_lost_mid_submission_is_resubmitted(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan[:1]), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    scene = generation.scenes.get()
    # A worker claimed the scene and died before the provider answered.
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.SUBMITTING, submitted_at=timezone.now()
    )
    report = reconcile(stale_after=0)
    generation.refresh_from_db()
    assert report.resubmitted == [scene.pk]
    assert generation.status == Generation.Status.SUCCEEDED


def test_a_scene_with_a_prediction_id_is_never_submitted_again(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan[:1]), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    scene = generation.scenes.get()
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.SUBMITTING, submitted_at=timezone.now(), prediction_id="p-1"
    )
    report = reconcile(stale_after=0)
    scene.refresh_from_db()
    assert report.resubmitted == []
    assert scene.prediction_id == "p-1"


def test_reconciling_a_finished_generation_changes_nothing(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan))
    generation.refresh_from_db()
    before = (generation.status, generation.video.name, generation.updated_at)
    assert reconcile(stale_after=0).total == 0
    generation.refresh_from_db()
    assert (generation.status, generation.video.name, generation.updated_at) == before


def test_a_generation_whose_stitch_died_is_stitched_again(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan[:2]), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    for scene in generation.scenes.order_by("index"):
        submit.run_scene(scene_id=scene.pk)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.STITCHING)
    report = reconcile(stale_after=0)
    generation.refresh_from_db()
    assert report.finished == [str(generation.pk)]
    assert generation.status == Generation.Status.SUCCEEDED
