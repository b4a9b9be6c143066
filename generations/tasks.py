"""django-q2 tasks: thin wrappers that call the lifecycle steps (``generations.lifecycle``) and
enqueue what is next.

Tasks carry ids only; each one re-reads its row and claims it with a conditional update, so a task
delivered twice, or replayed by the reconciler, is harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid

from django.db import DatabaseError
from django.utils import timezone
from django_q.conf import Conf

from generations.iterate import variations
from generations.lifecycle import complete, failure, finish, poller, start, submit
from generations.lifecycle.outcome import GenerationStateError, Outcome
from generations.lifecycle.queue import (
    enqueue_finish,
    enqueue_poll_pass,
    follow_outcome,
    poll_pass_dequeued,
    runs_here,
)
from generations.lifecycle.reconciler import reconcile
from generations.lifecycle.workers import stop_requested
from pipeline.providers.base import PredictionState

logger = logging.getLogger("coherence.pipeline")

# --- tasks ----------------------------------------------------------------------------------------


def start_generation_task(generation_id: str) -> None:
    try:
        outcome = start.start_generation(generation_id=uuid.UUID(generation_id))
    except GenerationStateError as exc:
        # A redelivered start: the first delivery did the work (the reconciler covers the rest).
        logger.info("start skipped: %s", exc)
        return
    heads = outcome.ready_scenes
    inline = heads[0] if heads and not Conf.SYNC and runs_here(heads[0]) else None
    follow_outcome(
        dataclasses.replace(outcome, ready_scenes=heads[1:]) if inline is not None else outcome
    )
    if outcome.finish:  # every scene was reused from another generation: only the stitch is left
        enqueue_finish(generation_id)
    if inline is not None:
        # This worker is already running: it takes the first chain itself, sparing it the queue
        # hop (60-150 ms on the ORM broker) the other heads pay on their way to other workers.
        run_scene_task(inline)


def _run_scene(scene_id: int) -> Outcome:
    try:
        return submit.run_scene(scene_id=scene_id)
    except DatabaseError:
        # The database itself is away (restart, failover): nothing about the scene is known to be
        # wrong, so leave it claimed; the reconciler resubmits it once it is stale.
        raise
    except Exception as exc:
        # Never leave a scene half-claimed by a bug: fail it readably, then let django-q record it.
        failure.fail_scene(scene_id=scene_id, message=f"internal error: {exc!r}")
        raise


def run_scene_task(scene_id: int) -> None:
    """Run a scene; when it completes at once (the local model), carry on with its continuous
    successor in this same worker, saving a queue round trip per link of the chain. Work that
    would overrun the task timeout goes back to the queue instead."""
    budget = time.monotonic() + Conf.TIMEOUT / 3 if Conf.TIMEOUT else None
    while True:
        outcome = _run_scene(scene_id)
        successors = [s for s in outcome.ready_scenes if s != scene_id]
        can_continue = (
            not Conf.SYNC
            and len(successors) == 1
            and not outcome.finish
            and budget is not None
            and time.monotonic() < budget
            and not stop_requested()  # a stopping cluster finishes the task in hand, no more
        )
        if not can_continue:
            follow_outcome(outcome, scene_id)
            return
        follow_outcome(Outcome(poll=outcome.poll), scene_id)
        scene_id = successors[0]


def advance_scene_task(scene_id: int, state: PredictionState | None = None) -> None:
    """Current: complete a running scene's prediction, queued by a webhook or the poller with the
    ``state`` they read (a verified webhook body, a poll), so the scene completes without a GET."""
    follow_outcome(complete.advance_scene(scene_id=scene_id, state=state), scene_id)


def check_scene_task(scene_id: int) -> None:
    """Current: the reconciler's look at a running prediction. Like ``advance_scene_task``, but it
    starts no polling of its own, so a minute's tick never piles up pollers; it completes a scene
    whose webhook or poller was lost."""
    outcome = complete.advance_scene(scene_id=scene_id)
    follow_outcome(dataclasses.replace(outcome, poll=False), scene_id)


# --- kept only for tasks already queued by older releases (django-q2 names tasks by dotted path) --


def poll_scene_task(scene_id: int) -> None:
    """Old queued tasks only (nothing queues it now): one look, no sleep, no next look (the poller
    takes the scene over from its ``next_poll_at``). Same as ``check_scene_task``."""
    check_scene_task(scene_id)


# --- current tasks, continued ---------------------------------------------------------------------


def poll_pass_task(until_done: bool = False) -> None:
    """One poller pass over every due prediction (generations.lifecycle.poller); never sleeps in a
    worker.

    ``until_done`` only in sync mode (tests), which has no ticker: there the pass waits for the
    next due look in the calling process and queues itself again while predictions are in flight.
    """
    if until_done:
        poll_pass_dequeued()
    report = poller.poll_pass()
    if not (until_done and Conf.SYNC) or report is None or report.next_due is None:
        return
    time.sleep(max(0.0, (report.next_due - timezone.now()).total_seconds()))
    enqueue_poll_pass(until_done=True)


def finish_generation_task(generation_id: str, allow_restitch: bool = False) -> None:
    finished = finish.finish_generation(
        generation_id=uuid.UUID(generation_id), allow_restitch=allow_restitch
    )
    if finished:
        variations.variation_finished(generation_id=uuid.UUID(generation_id))


def reconcile_task() -> int:
    return reconcile().total
