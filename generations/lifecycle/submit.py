"""The submit step (``run_scene``): claim a ready scene, plan its hand-over from the predecessor,
store its recipe, submit it to the provider and store the prediction id at once."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import stamina
from django.db import InterfaceError, OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from coherence_project.conf import config
from generations.lifecycle import leases, poll_schedule
from generations.lifecycle.complete import advance_scene, conclude
from generations.lifecycle.engine import get_model, get_provider
from generations.lifecycle.failure import fail_scene
from generations.lifecycle.handover import Handover, HandoverUnavailable, plan_handover
from generations.lifecycle.outcome import Outcome, set_progress
from generations.models import Generation, Scene
from generations.selectors import stored_schema
from pipeline import scene_graph
from pipeline.providers.base import ProviderError, SceneRequest
from pipeline.providers.inprocess import ProgressCallback, RenderCanceled
from pipeline.providers.registry import REPLICATE_PROVIDER
from pipeline.providers.schema import InputSchema, seed_warning
from pipeline.seeds import scene_seed

logger = logging.getLogger("coherence.pipeline")


def _scene_request(
    generation: Generation,
    scene: Scene,
    start: Handover,
    seed: int | None,
    schema: InputSchema | None,
) -> tuple[SceneRequest, dict[str, Any]]:
    """The provider request and the recipe stored before it is sent."""
    request = SceneRequest(
        model=generation.model,
        prompt=scene.prompt,
        duration=scene.duration,
        seed=seed,
        width=generation.width,
        height=generation.height,
        fps=generation.fps,
        webhook_url=_webhook_url(generation),
        input_schema=schema.component if schema else None,
        **start.request_fields,
    )
    return request, _recipe(generation, scene, start, request, schema)


def _recipe(
    generation: Generation,
    scene: Scene,
    start: Handover,
    request: SceneRequest,
    schema: InputSchema | None,
) -> dict[str, Any]:
    """What a scene was rendered from, stored before it is sent: enough to replay it."""
    return {
        "rendered": True,  # reused scenes (generations.iterate) say False and where from
        "provider": generation.provider,
        "model": generation.model,
        # Only a community model's registry pin is ever sent; reported versions are recorded
        # after submission as "reported_version".
        "version": get_model(generation.model).version,
        "schema_fingerprint": schema.fingerprint if schema else None,
        "prompt": scene.prompt,
        "duration": scene.duration,
        "seed": request.seed,
        "width": generation.width,
        "height": generation.height,
        "fps": generation.fps,
        # Keyed "source" as stored recipes are (and read back by replays).
        "start_image": (
            {"source": start.image_origin, "sha256": start.image_sha256}
            if start.image_origin
            else None
        ),
        "handover": start.recipe(),
    }


def _webhook_url(generation: Generation) -> str | None:
    if generation.provider != REPLICATE_PROVIDER or not config.PUBLIC_URL:
        return None
    return config.PUBLIC_URL.rstrip("/") + reverse("api:replicate-webhook")


def _seed_for(generation: Generation, scene: Scene) -> int | None:
    """The generation's seed for this scene, unless the scene was given its own (a re-render
    with a new seed for that scene alone)."""
    if scene.seed_override is not None and generation.seed_control:
        return scene.seed_override
    return scene_seed(
        base_seed=generation.seed if generation.seed_control else None,
        index=scene.index,
        mode=generation.render_settings.get("seed_mode", "shared"),
    )


def run_scene(*, scene_id: int) -> Outcome:
    """Claim a ready scene, store its recipe, submit it, store the prediction id at once.

    The claim is a lease its heartbeat renews while the provider works: a worker that dies here
    is noticed within LEASE_SECONDS and the scene is submitted again, but only while it has no
    prediction id (one that has may already be billed).
    """
    scene = Scene.objects.select_related("generation").get(pk=scene_id)
    generation = scene.generation
    if generation.status != Generation.Status.RUNNING or scene.status != Scene.Status.PENDING:
        return Outcome()
    before = scene_graph.predecessor(scene.index, scene.continuous)
    predecessor = None
    if before is not None:
        predecessor = Scene.objects.get(generation_id=generation.pk, index=before)
        if predecessor.status != Scene.Status.SUCCEEDED:
            return Outcome()  # enqueued again when the predecessor completes
    if not _claim_submission(scene):
        return Outcome()
    with (
        leases.heartbeat(Scene, scene_id, scene.claimed_by),
        tempfile.TemporaryDirectory(prefix="coherence-submit-") as work,
    ):
        return _submit_claimed(generation, scene, predecessor, Path(work))


def _claim_submission(scene: Scene) -> bool:
    """Claim a pending scene as read (its ``attempts`` unchanged since), and bring the instance
    up to date with the claim, which saves reading the row back."""
    claim = {
        "status": Scene.Status.SUBMITTING,
        "attempts": scene.attempts + 1,
        "submitted_at": timezone.now(),
        "error": "",
        "claimed_by": leases.new_token(),
        "lease_expires_at": leases.lease_until(),
    }
    claimed = Scene.objects.filter(
        pk=scene.pk, status=Scene.Status.PENDING, attempts=scene.attempts
    ).update(**claim)
    if claimed:
        for field, value in claim.items():
            setattr(scene, field, value)
    return bool(claimed)


def _submit_claimed(
    generation: Generation, scene: Scene, predecessor: Scene | None, work_dir: Path
) -> Outcome:
    scene_id = scene.pk
    schema = _stored_schema_of(generation)
    try:
        start = plan_handover(generation, scene, predecessor, schema and schema.component, work_dir)
    except HandoverUnavailable as exc:
        return fail_scene(scene_id=scene_id, message=str(exc))
    seed = _seed_for(generation, scene)
    request, recipe = _scene_request(generation, scene, start, seed, schema)
    reused = start.predecessor  # when the scene starts from its predecessor's end
    Scene.objects.filter(pk=scene_id).update(
        recipe=recipe,
        seed=seed,
        handover_method=start.method,
        handover_from=reused,
        handover_sha256=recipe["handover"]["sha256"] or "",
        handover_frame=(reused.last_frame.name if reused and reused.last_frame else ""),
    )
    provider = get_provider(generation.provider)
    try:
        submission = _submit(provider, request, scene)
    except RenderCanceled:
        return Outcome()  # the scene was canceled between denoising steps
    except ProviderError as exc:
        return _submission_failed(scene_id=scene_id, error=exc)
    return _record_submission(scene, submission, provider, seed=seed, recipe=recipe)


def _submit(provider: Any, request: SceneRequest, scene: Scene) -> Any:
    """Submit; a model that renders right here in steps (diffusers) reports them."""
    if getattr(provider, "reports_progress", False):
        return provider.submit(request, progress=_progress_reporter(scene))
    return provider.submit(request)


def _progress_reporter(scene: Scene) -> ProgressCallback:
    """Denoising progress into the generation's stage, and a cancel noticed between steps: the
    callback says stop once the scene is no longer this worker's. At most one look a second
    (a step of a real model takes seconds; one of a tiny test model, milliseconds)."""
    last_look = [0.0]

    def report(share: float) -> bool:
        now = time.monotonic()
        if share < 1.0 and now - last_look[0] < 1.0:
            return True
        last_look[0] = now
        ours = Scene.objects.filter(
            pk=scene.pk, status=Scene.Status.SUBMITTING, claimed_by=scene.claimed_by
        ).exists()
        if ours:
            set_progress(
                scene.generation_id, stage=f"rendering scene {scene.number}: {share:.0%} denoised"
            )
        return ours

    return report


def _stored_schema_of(generation: Generation) -> InputSchema | None:
    """A hosted model's stored live schema (what its inputs are built against), else None."""
    if get_model(generation.model).provider != REPLICATE_PROVIDER:
        return None
    return stored_schema(generation.model)


def _record_submission(
    scene: Scene, submission: Any, provider: Any, *, seed: int | None, recipe: dict[str, Any]
) -> Outcome:
    """Store an accepted prediction at once; say when the seed did not reach the model.

    A prediction still running is left to the poller or its webhook (the claim is released); one
    that already ended (the local model) is completed here under the submission's claim, which
    the caller's heartbeat keeps renewing.
    """
    finished = submission.finished
    recorded = _accepted_fields(submission, seed=seed, recipe=recipe)
    # The provider has accepted (and may bill) this prediction: its id must reach the database
    # even across a database restart, or the scene would be submitted a second time.
    stored = _persist_through_outage(
        lambda: Scene.objects.filter(
            pk=scene.pk, status=Scene.Status.SUBMITTING, claimed_by=scene.claimed_by
        ).update(**recorded)
    )
    if not stored:
        # The scene was canceled (or its generation failed, or it was reset as lost) while the
        # provider worked: keep the id for the record and stop the prediction, so nothing runs
        # (and bills) unseen.
        _abandon_prediction(scene.pk, submission.prediction_id, provider)
        return Outcome()
    for field, value in recorded.items():
        setattr(scene, field, value)
    if seed is not None and not submission.seed_applied:
        _add_warning(scene.generation_id, seed_warning(submission.seed_note or "not applied"))
    _record_model_version(scene.generation, submission.model_version)
    if finished:
        return conclude(scene, provider, finished, token=scene.claimed_by)
    return advance_scene(scene_id=scene.pk)


def _accepted_fields(
    submission: Any, *, seed: int | None, recipe: dict[str, Any]
) -> dict[str, Any]:
    """A scene's fields once its prediction is accepted: the claim is kept to complete it at
    once when the prediction has already ended, else released to the poller or webhook."""
    if submission.finished:
        claim = {"lease_expires_at": leases.lease_until(), "next_poll_at": None}
    else:
        claim = {
            "claimed_by": "",
            "lease_expires_at": None,
            "next_poll_at": poll_schedule.next_look(None),
        }
    return {
        "status": Scene.Status.RUNNING,
        "prediction_id": submission.prediction_id,
        "provider_input": submission.provider_input,
        # The version the prediction reported ("hidden" for official models) is a record only.
        "recipe": {**recipe, "reported_version": submission.model_version, **_rendered(submission)},
        "seed_applied": submission.seed_applied if seed is not None else None,
        "seed_note": submission.seed_note,
        "model_version": submission.model_version or "",
        **claim,
    }


def _rendered(submission: Any) -> dict[str, Any]:
    """What an in-process model reported of its render (sizes rounded to what the pipeline
    accepts, versions, device, dtype, scheduler, the model's identity), for the recipe."""
    details = submission.finished.extra.get("details") if submission.finished else None
    return {"render": details} if details else {}


def _record_model_version(generation: Generation, version: str | None) -> None:
    """The first version a prediction reports: a record of what ran (shown, embedded in the
    video), never sent back to the provider. Skipped once this instance knows one."""
    if version and not generation.model_version:
        Generation.objects.filter(pk=generation.pk, model_version="").update(model_version=version)
        generation.model_version = version


def _abandon_prediction(scene_id: int, prediction_id: str, provider: Any) -> None:
    Scene.objects.filter(pk=scene_id, prediction_id="").exclude(
        status=Scene.Status.SUBMITTING
    ).update(prediction_id=prediction_id)
    logger.warning("scene %s moved on during submission; canceling %s", scene_id, prediction_id)
    try:
        provider.cancel(prediction_id)
    except ProviderError as exc:
        logger.warning("could not cancel prediction %s: %s", prediction_id, exc)


def _persist_through_outage(write: Callable[[], Any], *, seconds: float = 30.0) -> Any:
    """Run a write, retrying on a lost database connection for up to ``seconds`` (exponential
    back-off from 0.2 s to 3 s: a PostgreSQL restart took 2-6 s in tests/integration)."""
    for attempt in stamina.retry_context(
        on=(OperationalError, InterfaceError),
        attempts=None,
        timeout=seconds,
        wait_initial=0.2,
        wait_max=3.0,
    ):
        with attempt:
            try:
                return write()
            except (OperationalError, InterfaceError):
                logger.warning("database unavailable while storing a prediction id; retrying")
                connection.close()  # the next attempt opens a fresh connection
                raise
    raise AssertionError("unreachable: stamina re-raises the last error")


def _submission_failed(*, scene_id: int, error: ProviderError) -> Outcome:
    scene = Scene.objects.get(pk=scene_id)
    if error.retryable and scene.attempts < config.SCENE_MAX_ATTEMPTS:
        Scene.objects.filter(pk=scene_id, status=Scene.Status.SUBMITTING).update(
            status=Scene.Status.PENDING, error=f"attempt {scene.attempts}: {error}"
        )
        return Outcome(ready_scenes=(scene_id,))
    return fail_scene(scene_id=scene_id, message=str(error))


def _add_warning(generation_id: uuid.UUID, message: str) -> None:
    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(pk=generation_id)
        if message not in generation.warnings:
            generation.warnings = [*generation.warnings, message]
            generation.save(update_fields=["warnings", "updated_at"])
