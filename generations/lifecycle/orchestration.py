"""Turning a stored Generation into a finished video: start, run scenes, complete, finish.

Every step claims its row with a conditional UPDATE, so a step delivered twice (django-q2's ORM
broker is at-least-once), run by two workers, or replayed by the reconciler does its work once.
The database is the source of truth; tasks only say "look at this row now".
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import stamina
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from coherence_project.conf import config
from generations.lifecycle import leases, poll_schedule
from generations.lifecycle.handover import Handover, HandoverUnavailable, plan_handover
from generations.lifecycle.seeds import ensure_generation_seed
from generations.media import storage
from generations.media.cleanup import discard_prediction_scratch
from generations.models import Generation, Scene, WebhookDelivery
from generations.selectors import recipe_metadata
from generations.services.hosted_models import stored_schema
from generations.webhooks_out.events import Event, outbox, record_event
from pipeline import media, scene_graph
from pipeline.coherence import colour, score
from pipeline.coherence.frames import CoherenceError
from pipeline.providers import get_provider
from pipeline.providers.base import PredictionState, PredictionStatus, ProviderError, SceneRequest
from pipeline.providers.inprocess import ProgressCallback, RenderCanceled
from pipeline.providers.registry import REPLICATE_PROVIDER, get_model
from pipeline.providers.schema import InputSchema, seed_warning
from pipeline.seeds import scene_seed

logger = logging.getLogger("coherence.pipeline")


class GenerationStateError(Exception):
    """A step was asked of a generation in a state that does not allow it."""


@dataclass(frozen=True)
class Outcome:
    """What a step did, so tasks know what to enqueue next."""

    ready_scenes: tuple[int, ...] = ()
    finish: bool = False
    poll: bool = False


def _set_progress(generation_id: uuid.UUID, *, stage: str, progress: int | None = None) -> None:
    updates: dict[str, Any] = {"stage": stage, "updated_at": timezone.now()}
    if progress is not None:
        updates["progress"] = max(0, min(100, progress))
    Generation.objects.filter(pk=generation_id).update(**updates)


def _scene_progress(generation_id: uuid.UUID, scenes: list[dict[str, Any]]) -> None:
    """Scenes carry the bulk of the work: 5%..90% of the bar, by scene seconds done."""
    total = sum(s["duration"] for s in scenes) or 1.0
    done = [s for s in scenes if s["status"] == Scene.Status.SUCCEEDED]
    Generation.objects.filter(pk=generation_id, status=Generation.Status.RUNNING).update(
        progress=5 + int(85 * sum(s["duration"] for s in done) / total),
        stage=f"rendering scenes ({len(done)}/{len(scenes)} done)",
        updated_at=timezone.now(),
    )


# --- start ----------------------------------------------------------------------------------------


def start_generation(*, generation_id: uuid.UUID) -> Outcome:
    """Claim a queued generation, draw and store its seed, and return the chain heads to run.

    The claim and the seed draw commit together: a running generation always has its seed, so no
    scene can ever be sent without one because a worker died in between.
    """
    with transaction.atomic():
        claimed = Generation.objects.filter(
            pk=generation_id, status=Generation.Status.QUEUED
        ).update(
            status=Generation.Status.RUNNING,
            stage="rendering scenes",  # seen only with the seed: they commit together
            progress=5,
            started_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if claimed:
            ensure_generation_seed(generation_id=generation_id)
            record_event(generation_id=generation_id, event=Event.STARTED)
    if not claimed:
        status = (
            Generation.objects.values_list("status", flat=True).filter(pk=generation_id).first()
        )
        if status is None:
            raise GenerationStateError(f"Generation {generation_id} does not exist.")
        raise GenerationStateError(
            f"Generation {generation_id} is {status}; only a queued generation can be started."
        )
    scenes = _scene_states(generation_id)
    return Outcome(
        ready_scenes=tuple(_ready(scenes)),
        # Every scene copied from another generation (generations.iterate): straight to the stitch.
        finish=all(scene.status == Scene.Status.SUCCEEDED for scene in scenes),
    )


def _scene_states(generation_id: uuid.UUID) -> list[Scene]:
    return list(
        Scene.objects.filter(generation_id=generation_id)
        .order_by("index")
        .only("id", "index", "continuous", "status")
    )


def _ready(scenes: list[Scene]) -> list[int]:
    """Pending scenes that may start now: chain heads, and continuous scenes whose predecessor
    is done (``scenes``: all of a generation's, in order)."""
    ready = []
    for scene in scenes:
        if scene.status != Scene.Status.PENDING:
            continue
        before = scene_graph.predecessor(scene.index, scene.continuous)
        if before is None or scenes[before].status == Scene.Status.SUCCEEDED:
            ready.append(scene.pk)
    return ready


def ready_scene_ids(*, generation_id: uuid.UUID) -> list[int]:
    """Pending scenes that may start now: chain heads, and continuous scenes whose predecessor
    is done."""
    return _ready(_scene_states(generation_id))


# --- run a scene (submission) ---------------------------------------------------------------------


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
        "start_image": (
            {"source": start.image_source, "sha256": start.image_sha256}
            if start.image_source
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
        base_seed=generation.seed_value if generation.seed_control else None,
        index=scene.index,
        mode=generation.coherence_settings.get("seed_mode", "shared"),
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
    source = None
    if before is not None:
        source = Scene.objects.get(generation_id=generation.pk, index=before)
        if source.status != Scene.Status.SUCCEEDED:
            return Outcome()  # enqueued again when the predecessor completes
    if not _claim_submission(scene):
        return Outcome()
    with (
        leases.heartbeat(Scene, scene_id, scene.claimed_by),
        tempfile.TemporaryDirectory(prefix="coherence-submit-") as work,
    ):
        return _submit_claimed(generation, scene, source, Path(work))


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
    generation: Generation, scene: Scene, source: Scene | None, work_dir: Path
) -> Outcome:
    scene_id = scene.pk
    schema = _stored_schema_of(generation)
    try:
        start = plan_handover(generation, scene, source, schema and schema.component, work_dir)
    except HandoverUnavailable as exc:
        return fail_scene(scene_id=scene_id, message=str(exc))
    seed = _seed_for(generation, scene)
    request, recipe = _scene_request(generation, scene, start, seed, schema)
    reused = start.source  # the predecessor, when the scene starts from its end
    Scene.objects.filter(pk=scene_id).update(
        recipe=recipe,
        seed=seed,
        latent_reuse_method=start.method,
        latent_source=reused,
        conditioning_sha256=recipe["handover"]["sha256"] or "",
        conditioning_frame=(reused.last_frame.name if reused and reused.last_frame else ""),
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
            _set_progress(
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
        return _conclude(scene, provider, finished, token=scene.claimed_by)
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


# --- complete a scene -----------------------------------------------------------------------------


def advance_scene(*, scene_id: int, state: PredictionState | None = None) -> Outcome:
    """Look at a running scene's prediction and, when it has ended, record the outcome.

    Called right after a submission whose prediction is still running, by the poller, by the
    webhook (with the ``state`` read from its verified body, which saves a GET) and by the
    reconciler; only the first caller to see the end records it.
    """
    scene = Scene.objects.select_related("generation").get(pk=scene_id)
    if scene.status != Scene.Status.RUNNING or not scene.prediction_id:
        return Outcome()
    if scene.lease_expires_at and scene.lease_expires_at > timezone.now():
        return Outcome()  # a live worker is completing it already
    provider = get_provider(scene.generation.provider)
    if state is None:
        try:
            state = provider.fetch(scene.prediction_id)
        except ProviderError as exc:
            if exc.retryable:
                return Outcome(poll=True)
            return fail_scene(scene_id=scene_id, message=str(exc))
    return _conclude(scene, provider, state)


def _conclude(
    scene: Scene, provider: Any, state: PredictionState, *, token: str | None = None
) -> Outcome:
    """Record how a prediction ended. ``token``: a claim the caller holds and keeps renewing (a
    prediction that ended during its submission); without one, the completion is claimed here."""
    if not state.status.is_terminal:
        return Outcome(poll=True)
    if state.status != PredictionStatus.SUCCEEDED:
        reason = state.error or f"the prediction was {state.status.value}"
        return fail_scene(scene_id=scene.pk, message=f"prediction {state.prediction_id}: {reason}")
    if token is not None:
        return _complete(scene, provider, state, token)
    # Completing (download, normalise, store) takes seconds: claim it, so the poller, a webhook
    # and the reconciler never complete one scene side by side, and a dead completer is replaced.
    token = leases.new_token()
    claimed = (
        Scene.objects.filter(pk=scene.pk, status=Scene.Status.RUNNING)
        .filter(leases.lapsed())
        .update(claimed_by=token, lease_expires_at=leases.lease_until(), next_poll_at=None)
    )
    if not claimed:
        return Outcome()
    with leases.heartbeat(Scene, scene.pk, token):
        return _complete(scene, provider, state, token)


def _complete(scene: Scene, provider: Any, state: PredictionState, token: str) -> Outcome:
    """Store a succeeded prediction's outputs under the claim ``token``, then say what is next."""
    try:
        stored = _store_outputs(scene, provider, state, token)
    except (ProviderError, media.MediaError, OSError) as exc:
        return fail_scene(scene_id=scene.pk, message=f"could not store the output: {exc}")
    return _after_scene_succeeded(scene) if stored else Outcome()


@dataclass(frozen=True)
class HouseOutputs:
    """A finished prediction's files, local and in the house format, ready to store."""

    clip: Path
    last_frame: Path
    latent: Path | None
    frame_count: int
    output_seconds: float  # what the model rendered (and billed), before resampling


def _house_outputs(generation: Generation, fetched: Any, work: Path) -> HouseOutputs:
    # Clips may arrive at another frame rate (minimax: 25 fps) and size; bringing every clip to
    # one house format on arrival makes the final stitch a stream copy.
    source = media.probe(fetched.video_path)  # once: its duration is what the model billed
    size = {"width": generation.width, "height": generation.height, "fps": generation.fps}
    if media.in_house_format(source, **size):
        # Stored as it came (every local render): no copy, and the model's own lossless last
        # frame, when it kept one, is this clip's.
        clip, last, frames = fetched.video_path, fetched.last_frame_path, source.frame_count
    else:
        clip, last = work / "normalized.mp4", None
        frames = media.normalize(fetched.video_path, clip, **size, source=source).frame_count
    if last is None:  # decoded from the clip (2-4 ms at 64 px, more at 720p)
        last = work / "last.png"
        media.save_png(media.last_frame(clip), last)
    return HouseOutputs(clip, last, fetched.latent_path, frames, source.duration)


def _save_outputs(stem: str, outputs: HouseOutputs) -> dict[str, str]:
    """Store the files through the media storage; the Scene field values they get."""
    return {
        "clip": storage.save_file(f"{stem}.mp4", outputs.clip),
        "last_frame": storage.save_file(f"{stem}.last.png", outputs.last_frame),
        "final_latent": (
            storage.save_file(f"{stem}.latent.npy", outputs.latent) if outputs.latent else ""
        ),
    }


def _store_outputs(scene: Scene, provider: Any, state: PredictionState, token: str) -> bool:
    """Fetch, normalise and store a scene's outputs; False if the claim was lost meanwhile."""
    generation = scene.generation
    stem = f"generations/{generation.pk}/scenes/scene-{scene.number:02d}"
    with tempfile.TemporaryDirectory(prefix="coherence-scene-") as tmp:
        outputs = _house_outputs(generation, provider.fetch_output(state, Path(tmp)), Path(tmp))
        saved = _save_outputs(stem, outputs)
    with outbox(generation):
        updated = Scene.objects.filter(
            pk=scene.pk, status=Scene.Status.RUNNING, claimed_by=token
        ).update(
            status=Scene.Status.SUCCEEDED,
            **saved,
            frame_count=outputs.frame_count,
            cost=_actual_cost(generation, scene, outputs.output_seconds),
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        if updated:
            record_event(
                generation_id=generation.pk,
                event=Event.SCENE_COMPLETED,
                scene_id=scene.pk,
                known=generation,
            )
    if not updated:  # canceled, or our lease lapsed and another completer won: keep theirs
        row = Scene.objects.values("clip", "last_frame", "final_latent").get(pk=scene.pk)
        storage.delete_unreferenced(saved.values(), referenced=row.values())
    else:  # the outputs are ours now; the scratch (raw render, prompt record) can go
        discard_prediction_scratch(state.prediction_id)
    return bool(updated)


def _actual_cost(generation: Generation, scene: Scene, output_seconds: float) -> Decimal | None:
    """Per second of output or per clip, as the model bills, at the resolution it was sent."""
    spec = get_model(generation.model)
    sent = scene.provider_input or {}
    resolution = sent.get(spec.resolution_input) if spec.resolution_input else None
    return spec.cost_of(output_seconds, resolution or spec.default_resolution)


def _after_scene_succeeded(scene: Scene) -> Outcome:
    """Update progress, then say what comes next: the continuous successor, or the finish."""
    scenes = list(
        Scene.objects.filter(generation_id=scene.generation_id)
        .order_by("index")
        .values("pk", "index", "status", "duration", "continuous")
    )
    _scene_progress(scene.generation_id, scenes)
    if all(s["status"] == Scene.Status.SUCCEEDED for s in scenes):
        return Outcome(finish=True)
    after = scenes[scene.index + 1] if scene.index + 1 < len(scenes) else None
    if after and after["continuous"] and after["status"] == Scene.Status.PENDING:
        return Outcome(ready_scenes=(after["pk"],))
    return Outcome()


def receive_prediction_webhook(
    *, webhook_id: str, payload: dict[str, Any]
) -> tuple[str, int | None]:
    """Record a verified provider webhook once; say which scene, if any, should be advanced.

    Returns ("duplicate" | "unknown prediction" | "ignored" | "queued", scene id). A redelivered,
    late or out-of-order webhook changes nothing: the delivery id is stored once, and only a
    running scene can be completed. The completion itself (download, normalise) is a worker's
    job, so the webhook answers at once; the verified body goes with it, saving a GET.
    """
    prediction_id = str(payload.get("id") or "")
    _, created = WebhookDelivery.objects.get_or_create(
        webhook_id=webhook_id, defaults={"prediction_id": prediction_id}
    )
    if not created:
        return "duplicate", None
    scene_id = (
        Scene.objects.filter(prediction_id=prediction_id).values_list("pk", flat=True).first()
        if prediction_id
        else None
    )
    if scene_id is None:
        return "unknown prediction", None
    try:
        status = PredictionStatus(payload.get("status"))
    except ValueError:
        return "ignored", scene_id
    if not status.is_terminal:
        return "ignored", scene_id
    return "queued", scene_id


# --- failure and cancel ---------------------------------------------------------------------------


def fail_scene(*, scene_id: int, message: str) -> Outcome:
    """A scene failed for good: record why, and fail its generation (finished scenes are kept)."""
    scene = Scene.objects.get(pk=scene_id)
    if scene.status == Scene.Status.SUCCEEDED:
        # A concurrent completer stored it first (and removed the scratch this one was reading).
        return Outcome()
    Scene.objects.filter(pk=scene_id).exclude(status__in=Scene.TERMINAL).update(
        status=Scene.Status.FAILED, error=message, finished_at=timezone.now()
    )
    logger.warning("scene %s of %s failed: %s", scene.number, scene.generation_id, message)
    fail_generation(
        generation_id=scene.generation_id, message=f"Scene {scene.number} failed: {message}"
    )
    return Outcome()


def _stop_open_scenes(generation_id: uuid.UUID, *, reason: str) -> None:
    provider_name = Generation.objects.values_list("provider", flat=True).get(pk=generation_id)
    open_scenes = Scene.objects.filter(generation_id=generation_id).exclude(
        status__in=Scene.TERMINAL
    )
    in_flight = list(
        open_scenes.filter(status=Scene.Status.RUNNING).values_list("prediction_id", flat=True)
    )
    open_scenes.update(status=Scene.Status.CANCELED, error=reason, finished_at=timezone.now())
    provider = get_provider(provider_name)
    for prediction_id in in_flight:
        try:
            provider.cancel(prediction_id)
        except ProviderError as exc:  # best effort: the generation is over either way
            logger.warning("could not cancel prediction %s: %s", prediction_id, exc)


def _end_generation(generation_id: uuid.UUID, status: str, *, error: str = "") -> bool:
    """Move a generation that has not ended yet into ``status`` and stop its open scenes."""
    now = timezone.now()
    with transaction.atomic():  # the consumer's "completed" commits with the change
        updated = (
            Generation.objects.filter(pk=generation_id)
            .exclude(status__in=Generation.TERMINAL)
            .update(status=status, stage=status, error=error, finished_at=now, updated_at=now)
        )
        if updated:
            record_event(generation_id=generation_id, event=Event.COMPLETED)
    if updated:
        _stop_open_scenes(generation_id, reason=f"generation {status}")
    return bool(updated)


def fail_generation(*, generation_id: uuid.UUID, message: str) -> bool:
    """Fail with a readable reason; finished scenes and their files are kept."""
    return _end_generation(generation_id, Generation.Status.FAILED, error=message)


def cancel_generation(*, generation_id: uuid.UUID) -> bool:
    """Stop new submissions, cancel in-flight predictions, mark the generation canceled."""
    return _end_generation(generation_id, Generation.Status.CANCELED)


# --- finish ---------------------------------------------------------------------------------------


def finish_generation(*, generation_id: uuid.UUID, allow_restitch: bool = False) -> bool:
    """Stitch the clips, score coherence, mark the generation succeeded. Idempotent.

    The stitch holds a lease its heartbeat renews; ``allow_restitch`` (the reconciler) takes over
    a stitch only once that lease has lapsed, i.e. its worker is dead.
    """
    scenes = list(Scene.objects.filter(generation_id=generation_id).order_by("index"))
    if not scenes or any(s.status != Scene.Status.SUCCEEDED for s in scenes):
        return False
    claimable = Q(status=Generation.Status.RUNNING)
    if allow_restitch:
        claimable |= Q(status=Generation.Status.STITCHING) & leases.lapsed()
    token = leases.new_token()
    claimed = (
        Generation.objects.filter(pk=generation_id)
        .filter(claimable)
        .update(
            status=Generation.Status.STITCHING,
            stage="stitching",
            progress=90,
            updated_at=timezone.now(),
            claimed_by=token,
            lease_expires_at=leases.lease_until(),
        )
    )
    if not claimed:
        return False
    generation = Generation.objects.get(pk=generation_id)
    with leases.heartbeat(Generation, generation_id, token):
        return _stitch_claimed(generation, scenes, token)


def _local_clips(generation: Generation, scenes: list[Scene], work: Path) -> list[Path]:
    """The scenes' clips, downloaded from the storage (and colour-matched when asked)."""
    clips = [storage.download(s.clip, work / f"scene-{s.number:02d}.mp4") for s in scenes]
    if generation.coherence_settings.get("color_match") and len(clips) > 1:
        matched = [clips[0]]
        for scene, clip in zip(scenes[1:], clips[1:], strict=True):
            out = work / f"matched-{scene.number:02d}.mp4"
            colour.color_match_clip(clip, clips[0], out)
            matched.append(out)
        clips = matched
    return clips


def _stitch_claimed(generation: Generation, scenes: list[Scene], token: str) -> bool:
    generation_id = generation.pk
    try:
        with tempfile.TemporaryDirectory(prefix="coherence-stitch-") as tmp:
            clips = _local_clips(generation, scenes, Path(tmp))
            stitched = Path(tmp) / "video.mp4"
            info = media.concat(clips, stitched, metadata=recipe_metadata(generation))
            _set_progress(generation_id, stage="scoring coherence", progress=95)
            report = score.score_clips(
                [
                    score.SceneClip(index=s.index, path=clip, continuous=s.continuous)
                    for s, clip in zip(scenes, clips, strict=True)
                ]
            )
            name = storage.save_file(f"generations/{generation.pk}/video.mp4", stitched)
            video_sha256 = media.sha256_file(stitched)
    except (media.MediaError, CoherenceError, OSError, ValueError) as exc:
        fail_generation(generation_id=generation_id, message=f"Stitching failed: {exc}")
        return False
    costs = [s.cost for s in scenes if s.cost is not None]
    with outbox(generation):
        updated = Generation.objects.filter(
            pk=generation_id, status=Generation.Status.STITCHING, claimed_by=token
        ).update(
            status=Generation.Status.SUCCEEDED,
            stage="done",
            progress=100,
            video=name,
            video_sha256=video_sha256,
            frame_count=info.frame_count,
            coherence_score=report.score,
            coherence_report=report.to_dict(),
            cost=sum(costs, Decimal(0)) if costs else None,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            lease_expires_at=None,
        )
        if updated:
            record_event(generation_id=generation_id, event=Event.COMPLETED, known=generation)
    if not updated:  # canceled meanwhile, or a restitch took over: keep only what the row names
        row = Generation.objects.values_list("video", flat=True).get(pk=generation_id)
        storage.delete_unreferenced([name], referenced=[row])
        return False
    logger.info("generation %s finished: %s", generation_id, name)
    return True
