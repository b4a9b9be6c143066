"""What a scene costs besides the model (docs/architecture.md): one claim for submit and complete,
few database round trips, the model's own last frame, one lease-keeper thread, and the first chain
run by the start task itself. ``bench/pipeline_bench.py`` measures the time; these pin the shape."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from coherence_project.conf import config
from generations import tasks
from generations.lifecycle import leases, start, submit
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.providers.local import LocalProvider

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def started(scenes: list[dict]) -> Generation:
    generation = create_generation(GenerationRequest(scenes=scenes), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    return generation


def test_a_continuing_local_scene_costs_three_reads_and_five_writes(
    plan, media_root, django_assert_num_queries
):
    first, second = started(plan[:2]).scenes.order_by("index")
    submit.run_scene(scene_id=first.pk)
    # Reads: the scene with its generation, its predecessor, the scenes for progress. Writes: the
    # claim, the recipe, the prediction id, the outputs, the progress.
    with django_assert_num_queries(8):
        outcome = submit.run_scene(scene_id=second.pk)
    second.refresh_from_db()
    assert second.status == Scene.Status.SUCCEEDED
    assert outcome.finish


def test_a_local_prediction_is_completed_without_being_looked_up_again(
    plan, media_root, monkeypatch
):
    def no_second_look(self, prediction_id):
        raise AssertionError("the prediction ended inside submit: nothing to look up")

    monkeypatch.setattr(LocalProvider, "fetch", no_second_look)
    generation = started(plan[:2])
    for scene in generation.scenes.order_by("index"):
        submit.run_scene(scene_id=scene.pk)
    assert set(generation.scenes.values_list("status", flat=True)) == {Scene.Status.SUCCEEDED}


def test_the_stored_last_frame_is_the_models_lossless_one(plan, media_root, settings):
    settings.COHERENCE = {**settings.COHERENCE, "KEEP_LOCAL_SCRATCH": True}
    scene = started(plan[:1]).scenes.get()
    submit.run_scene(scene_id=scene.pk)
    scene.refresh_from_db()
    rendered = Path(config.LOCAL_SCRATCH_DIR) / scene.prediction_id
    stored = Path(media_root) / scene.last_frame.name
    assert media.sha256_file(stored) == media.sha256_file(rendered / "output.last.png")
    # Lossless: close to the clip's decoded last frame, but not its compressed copy.
    decoded = media.last_frame(Path(media_root) / scene.clip.name)
    assert media.ssim(media.load_png(stored), decoded) > 0.9


def test_one_keeper_thread_renews_every_claim_and_none_after_its_release(settings, plan):
    settings.COHERENCE = {**settings.COHERENCE, "LEASE_SECONDS": 1}
    scenes = list(started(plan[:2]).scenes.order_by("index"))
    for scene in scenes:
        Scene.objects.filter(pk=scene.pk).update(
            claimed_by=f"me-{scene.pk}", lease_expires_at=leases.lease_until()
        )
    first, second = (leases.heartbeat(Scene, s.pk, f"me-{s.pk}") for s in scenes)
    with first, second:
        time.sleep(1.6)  # longer than the lease: only renewals keep the claims
        alive = Scene.objects.filter(pk__in=[s.pk for s in scenes]).exclude(leases.lapsed())
        assert alive.count() == 2
        assert [t.name for t in threading.enumerate()].count("lease-keeper") == 1
    released = dict(Scene.objects.values_list("pk", "lease_expires_at"))
    time.sleep(0.6)  # two renewal periods
    assert dict(Scene.objects.values_list("pk", "lease_expires_at")) == released


def test_the_start_task_runs_the_first_chain_itself_and_queues_the_other_heads(
    plan, media_root, monkeypatch
):
    # A cluster's worker (not sync mode), with the real ORM broker and no cluster to drain it.
    monkeypatch.setattr(Conf, "SYNC", False)
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    tasks.start_generation_task(str(generation.pk))
    statuses = list(generation.scenes.order_by("index").values_list("status", flat=True))
    assert statuses == [Scene.Status.SUCCEEDED] * 2 + [Scene.Status.PENDING] * 2
    assert OrmQ.objects.count() == 1  # the second chain's head, for another worker
