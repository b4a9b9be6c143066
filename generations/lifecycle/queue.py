"""Putting work on the django-q2 queue: one function per task, each naming its task by dotted path.

The queue only says "look at this row now"; every task re-reads and claims its row, so a task
delivered twice, or re-enqueued by the reconciler, is harmless.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

from django_q.conf import Conf
from django_q.tasks import async_task

from coherence_project.conf import config
from generations.lifecycle.outcome import Outcome
from generations.models import Scene
from pipeline.providers.base import PredictionState
from pipeline.providers.diffusion_families import DIFFUSERS_PROVIDER

_sync_state = threading.local()


def _home_cluster() -> str | None:
    """The default cluster's name when this process serves another one (a GPU cluster), so
    stitching, scoring and polling go back to it; None: this process's own cluster."""
    return Conf.PREFIX if Conf.CLUSTER_NAME != Conf.PREFIX else None


def _enqueue(func: str, *args: Any, cluster: str | None = None) -> None:
    """Queue a task (on ``cluster``, else the default cluster). In django-q2's sync mode, run
    queued tasks one after another instead of nesting them, so a long plan does not recurse once
    per scene."""
    if not Conf.SYNC:
        target = cluster or _home_cluster()
        options = {"cluster": target} if target else {}
        async_task(func, *args, group=func.rsplit(".", 1)[-1], **options)
        return
    pending: deque | None = getattr(_sync_state, "pending", None)
    if pending is not None:
        pending.append((func, args))
        return
    _sync_state.pending = deque([(func, args)])
    try:
        while _sync_state.pending:
            next_func, next_args = _sync_state.pending.popleft()
            async_task(next_func, *next_args)
    finally:
        _sync_state.pending = None
        _sync_state.poll_pass_queued = False


def enqueue_start_generation(generation_id: uuid.UUID | str) -> None:
    _enqueue("generations.tasks.start_generation_task", str(generation_id))


def scene_cluster(scene_ids: Iterable[int]) -> dict[int, str | None]:
    """Where each scene renders: diffusers scenes on the GPU cluster when there is one (one
    query, and none at all without a GPU cluster); None: the default cluster."""
    ids = list(scene_ids)
    if not config.GPU_CLUSTER or not ids:
        return dict.fromkeys(ids)
    providers = dict(Scene.objects.filter(pk__in=ids).values_list("pk", "generation__provider"))
    return {
        pk: config.GPU_CLUSTER if providers.get(pk) == DIFFUSERS_PROVIDER else None for pk in ids
    }


def runs_here(scene_id: int) -> bool:
    """Whether this process's cluster is where ``scene_id`` renders."""
    target = scene_cluster([scene_id])[scene_id]
    return (target or Conf.PREFIX) == Conf.CLUSTER_NAME


def enqueue_scenes(scene_ids: Iterable[int]) -> None:
    for scene_id, cluster in scene_cluster(scene_ids).items():
        _enqueue("generations.tasks.run_scene_task", scene_id, cluster=cluster)


def enqueue_poll_pass(*, until_done: bool = False) -> None:
    """Queue one poller pass (generations.lifecycle.poller). ``until_done`` is for sync mode, which
    has no
    ticker: the pass then looks again itself while anything is in flight (at most one such pass
    waits in the queue)."""
    if until_done:
        if getattr(_sync_state, "poll_pass_queued", False):
            return
        _sync_state.poll_pass_queued = True
        _enqueue("generations.tasks.poll_pass_task", True)
        return
    _enqueue("generations.tasks.poll_pass_task")


def poll_pass_dequeued() -> None:
    _sync_state.poll_pass_queued = False


def enqueue_advance(scene_id: int, state: PredictionState | None = None) -> None:
    """Queue one look at a scene's prediction; ``state`` is what a verified webhook said, which
    saves asking the provider again."""
    if state is None:
        _enqueue("generations.tasks.advance_scene_task", scene_id)
    else:
        _enqueue("generations.tasks.advance_scene_task", scene_id, state)


def enqueue_finish(generation_id: uuid.UUID | str, *, allow_restitch: bool = False) -> None:
    _enqueue("generations.tasks.finish_generation_task", str(generation_id), allow_restitch)


def enqueue_check(scene_id: int) -> None:
    _enqueue("generations.tasks.check_scene_task", scene_id)


def follow_outcome(outcome: Outcome, scene_id: int | None = None) -> None:
    """Enqueue what a step said comes next."""
    enqueue_scenes(outcome.ready_scenes)
    if outcome.poll and Conf.SYNC and not config.PUBLIC_URL:
        # A running cluster needs nothing here: the ticker polls whatever is due (the scene's
        # next_poll_at was set when its prediction id was stored), the reconciler backs it up.
        # Sync mode has neither, so the calling process polls.
        enqueue_poll_pass(until_done=True)
    if outcome.finish and scene_id is not None:
        enqueue_finish(Scene.objects.values_list("generation_id", flat=True).get(pk=scene_id))
