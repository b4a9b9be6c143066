"""Leases (a dead worker's claim lapses within LEASE_SECONDS) and the batched poller (one pass
looks at every due prediction once, then backs off), run inline against the loopback server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.lifecycle import leases, poll_schedule, poller, reconciler, start, submit
from generations.lifecycle.reconciler import reconcile
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers.registry import SEEDANCE_LITE
from tests.doubles.replicate_server import ReplicateServer
from tests.support.replicate import polled_replicate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]

PAST = timedelta(seconds=-1)


@pytest.fixture
def server(settings, media_root) -> Iterator[ReplicateServer]:
    with polled_replicate(settings, latency=0.05) as srv:
        yield srv


def started(scenes: list[dict], **kwargs) -> Generation:
    generation = create_generation(GenerationRequest(scenes=scenes, **kwargs), enqueue=False)
    start.start_generation(generation_id=generation.pk)
    return generation


def submitted_hosted(server: ReplicateServer, count: int, latency: float) -> list[Scene]:
    """``count`` independent hosted scenes, submitted (no look yet), running ``latency`` x 2 s."""
    server.latency = latency
    plan = [{"prompt": f"in flight {i}", "duration": 1.0} for i in range(count)]
    generation = started(plan, provider="replicate", model=SEEDANCE_LITE)
    for scene in generation.scenes.all():
        submit.run_scene(scene_id=scene.pk)
    return list(generation.scenes.order_by("index"))


def test_a_submission_whose_worker_died_is_taken_up_once_its_lease_lapses(plan, media_root):
    generation = started(plan[:1])
    scene = generation.scenes.get()
    # A worker claimed the scene and died before the provider answered; its lease is still live.
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.SUBMITTING,
        submitted_at=timezone.now(),
        claimed_by="dead-worker",
        lease_expires_at=leases.lease_until(),
    )
    assert reconcile(stale_after=0).resubmitted == []  # a live claim is never taken
    Scene.objects.filter(pk=scene.pk).update(lease_expires_at=timezone.now() + PAST)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING)

    report = reconcile(stale_after=3600)  # no timeout involved: the lapsed lease says it all
    generation.refresh_from_db()
    assert report.resubmitted == [scene.pk]
    assert generation.status == Generation.Status.SUCCEEDED, generation.error


def test_the_stage_says_recovering_while_lost_work_is_taken_up(plan, media_root):
    generation = started(plan[:2])
    first = generation.scenes.get(index=0)
    Scene.objects.filter(pk=first.pk).update(
        status=Scene.Status.SUBMITTING,
        claimed_by="dead-worker",
        lease_expires_at=timezone.now() + PAST,
    )
    # Only release here (no enqueue): the stage is what a user sees between the two.
    Scene.objects.filter(generation=generation, index=1).update(status=Scene.Status.SUCCEEDED)
    reconciler._release_lost_submissions(timezone.now(), reconciler.ReconcileReport())
    generation.refresh_from_db()
    assert generation.stage.startswith("recovering")
    assert Scene.objects.get(pk=first.pk).status == Scene.Status.PENDING


def test_a_scene_whose_completer_died_completes_from_its_stored_prediction(server, plan):
    scene = submitted_hosted(server, 1, latency=0.05)[0]
    time.sleep(0.5)  # the prediction has ended at the provider
    # A completer claimed it and died mid-download: lease lapsed, no look scheduled.
    Scene.objects.filter(pk=scene.pk).update(
        claimed_by="dead-worker", lease_expires_at=timezone.now() + PAST, next_poll_at=None
    )
    report = reconcile(stale_after=3600)
    scene.refresh_from_db()
    assert report.polled == [scene.pk]
    assert scene.status == Scene.Status.SUCCEEDED
    assert server.created_by_model_prompt[(SEEDANCE_LITE, scene.prompt)] == 1  # never resubmitted


def test_one_pass_looks_once_at_every_due_prediction_and_backs_off(server, settings):
    settings.COHERENCE = {**settings.COHERENCE, "POLL_INTERVAL": 2.0, "MAX_SCENES": 20}
    scenes = submitted_hosted(server, 20, latency=5.0)
    before = {s.prediction_id: server.requests_by_prediction[s.prediction_id] for s in scenes}
    Scene.objects.filter(pk__in=[s.pk for s in scenes]).update(next_poll_at=timezone.now())

    report = poller.poll_pass()
    assert report is not None and report.looked == 20 and report.ended == 0
    after = {p: server.requests_by_prediction[p] for p in before}
    assert all(after[p] == before[p] + 1 for p in before)  # one GET each, in one pass
    assert poller.poll_pass().looked == 0  # at most one look per interval
    assert report.next_due is not None and report.next_due > timezone.now()


def test_two_pollers_never_pass_side_by_side(server):
    assert leases.acquire(poller.LEASE_NAME, "other-cluster", seconds=30)
    assert poller.poll_pass(holder="this-cluster") is None
    leases.release(poller.LEASE_NAME, "other-cluster")
    assert poller.poll_pass(holder="this-cluster") is not None


def test_long_predictions_are_looked_at_less_often(settings):
    settings.COHERENCE = {
        **settings.COHERENCE,
        "POLL_INTERVAL": 2.0,
        "POLL_MAX_INTERVAL": 30.0,
        "PUBLIC_URL": "",
    }
    assert poll_schedule.interval(0) == 2.0
    assert poll_schedule.interval(100) == 10.0
    assert poll_schedule.interval(3600) == 30.0
    settings.COHERENCE = {**settings.COHERENCE, "PUBLIC_URL": "https://coherence.example"}
    # Webhooks complete scenes; polling only catches a lost one, rarely.
    assert poll_schedule.interval(0) == 30.0
    assert poll_schedule.interval(3600) == 300.0


def test_a_live_stitch_is_left_alone_and_a_dead_one_is_done_again(plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan[:1]))
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.STITCHING, claimed_by="w", lease_expires_at=leases.lease_until()
    )
    assert reconcile(stale_after=0).finished == []
    Generation.objects.filter(pk=generation.pk).update(lease_expires_at=timezone.now() + PAST)
    assert reconcile(stale_after=3600).finished == [str(generation.pk)]
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED


def test_the_heartbeat_keeps_a_long_claim_alive(settings, plan):
    settings.COHERENCE = {**settings.COHERENCE, "LEASE_SECONDS": 1}
    generation = started(plan[:1])
    scene = generation.scenes.get()
    Scene.objects.filter(pk=scene.pk).update(claimed_by="me", lease_expires_at=leases.lease_until())
    with leases.heartbeat(Scene, scene.pk, "me"):
        time.sleep(1.6)  # longer than the lease: only the heartbeat keeps it
        alive = Scene.objects.filter(pk=scene.pk).filter(~leases.lapsed()).exists()
    assert alive
    time.sleep(1.2)
    assert Scene.objects.filter(pk=scene.pk).filter(leases.lapsed()).exists()
