"""Turning a stored Generation into a finished video: start, run scenes, complete, finish.

Every step claims its row with a conditional UPDATE, so a step delivered twice (django-q2's ORM
broker is at-least-once), run by two workers, or replayed by the reconciler does its work once.
The database is the source of truth; tasks only say "look at this row now".
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from coherence_project.conf import config
from generations.media_cleanup import discard_prediction_scratch
from generations.models import Generation, Scene, WebhookDelivery
from generations.seeds import ensure_generation_seed
from generations.selectors import recipe_metadata
from pipeline import coherence, media, scene_graph
from pipeline.providers import get_provider
from pipeline.providers.base import PredictionState, PredictionStatus, ProviderError, SceneRequest
from pipeline.providers.registry import get_model
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


def _media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


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
            stage="drawing seed",
            progress=1,
            started_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if claimed:
            ensure_generation_seed(generation_id=generation_id)
    if not claimed:
        status = (
            Generation.objects.values_list("status", flat=True).filter(pk=generation_id).first()
        )
        if status is None:
            raise GenerationStateError(f"Generation {generation_id} does not exist.")
        raise GenerationStateError(
            f"Generation {generation_id} is {status}; only a queued generation can be started."
        )
    _set_progress(generation_id, stage="rendering scenes", progress=5)
    return Outcome(ready_scenes=tuple(ready_scene_ids(generation_id=generation_id)))


def ready_scene_ids(*, generation_id: uuid.UUID) -> list[int]:
    """Pending scenes that may start now: chain heads, and continuous scenes whose predecessor
    is done."""
    scenes = list(
        Scene.objects.filter(generation_id=generation_id)
        .order_by("index")
        .only("id", "index", "continuous", "status")
    )
    ready = []
    for scene in scenes:
        if scene.status != Scene.Status.PENDING:
            continue
        before = scene_graph.predecessor(scene.index, scene.continuous)
        if before is None or scenes[before].status == Scene.Status.SUCCEEDED:
            ready.append(scene.pk)
    return ready


# --- run a scene (submission) ---------------------------------------------------------------------


def _conditioning(generation: Generation, scene: Scene) -> tuple[dict[str, Any], Scene | None]:
    """What the scene starts from: its predecessor's final latent or last frame, or nothing."""
    if not (scene.continuous and generation.latent_reuse):
        return {}, None
    source = Scene.objects.get(generation_id=generation.pk, index=scene.index - 1)
    spec = get_model(generation.model)
    if spec.accepts_latent:
        if not source.final_latent:
            raise GenerationStateError(
                f"Scene {scene.number} continues scene {source.number}, whose final latent is "
                "missing; refusing to render it without conditioning."
            )
        return {"init_latent_path": _media_path(source.final_latent.name)}, source
    if not source.last_frame:
        raise GenerationStateError(
            f"Scene {scene.number} continues scene {source.number}, whose last frame is missing; "
            "refusing to render it without conditioning."
        )
    return {"init_image_path": _media_path(source.last_frame.name)}, source


def _webhook_url(generation: Generation) -> str | None:
    if generation.provider == "local" or not config.PUBLIC_URL:
        return None
    return config.PUBLIC_URL.rstrip("/") + "/api/webhooks/replicate/"


def run_scene(*, scene_id: int) -> Outcome:
    """Claim a ready scene, store its recipe, submit it, store the prediction id at once."""
    scene = Scene.objects.select_related("generation").get(pk=scene_id)
    generation = scene.generation
    if generation.status != Generation.Status.RUNNING or scene.status != Scene.Status.PENDING:
        return Outcome()
    before = scene_graph.predecessor(scene.index, scene.continuous)
    if before is not None:
        source_status = Scene.objects.values_list("status", flat=True).get(
            generation_id=generation.pk, index=before
        )
        if source_status != Scene.Status.SUCCEEDED:
            return Outcome()  # enqueued again when the predecessor completes
    claimed = Scene.objects.filter(pk=scene_id, status=Scene.Status.PENDING).update(
        status=Scene.Status.SUBMITTING,
        attempts=F("attempts") + 1,
        submitted_at=timezone.now(),
        error="",
    )
    if not claimed:
        return Outcome()
    scene.refresh_from_db()

    try:
        conditioning, source = _conditioning(generation, scene)
    except GenerationStateError as exc:
        return fail_scene(scene_id=scene_id, message=str(exc))

    seed = scene_seed(
        base_seed=generation.seed_value if generation.seed_control else None,
        index=scene.index,
        mode=generation.coherence_settings.get("seed_mode", "shared"),
    )
    request = SceneRequest(
        model=generation.model,
        version=generation.model_version or None,
        prompt=scene.prompt,
        duration=scene.duration,
        seed=seed,
        width=generation.width,
        height=generation.height,
        fps=generation.fps,
        webhook_url=_webhook_url(generation),
        **conditioning,
    )
    conditioning_path = request.init_latent_path or request.init_image_path
    conditioning_sha = media.sha256_file(conditioning_path) if conditioning_path else ""
    method = ""
    if request.init_latent_path:
        method = Scene.LatentReuse.LATENT
    elif request.init_image_path:
        method = Scene.LatentReuse.FIRST_FRAME
    recipe = {
        "provider": generation.provider,
        "model": generation.model,
        "version": generation.model_version or None,
        "prompt": scene.prompt,
        "duration": scene.duration,
        "seed": seed,
        "width": generation.width,
        "height": generation.height,
        "fps": generation.fps,
        "latent_reuse": {
            "method": method or None,
            "source_scene": source.index if source else None,
            "sha256": conditioning_sha or None,
        },
    }
    Scene.objects.filter(pk=scene_id).update(
        recipe=recipe,
        seed=seed,
        latent_reuse_method=method,
        latent_source=source,
        conditioning_sha256=conditioning_sha,
        conditioning_frame=(source.last_frame.name if source and source.last_frame else ""),
    )

    provider = get_provider(generation.provider)
    try:
        submission = provider.submit(request)
    except ProviderError as exc:
        return _submission_failed(scene_id=scene_id, error=exc)

    # The provider has accepted (and may bill) this prediction: its id must reach the database
    # even across a database restart, or the scene would be submitted a second time.
    stored = _persist_through_outage(
        lambda: Scene.objects.filter(pk=scene_id, status=Scene.Status.SUBMITTING).update(
            status=Scene.Status.RUNNING,
            prediction_id=submission.prediction_id,
            provider_input=submission.provider_input,
            seed_applied=submission.seed_applied if seed is not None else None,
            seed_note=submission.seed_note,
            model_version=submission.model_version or "",
        )
    )
    if not stored:
        # The scene was canceled (or its generation failed, or it was reset as lost) while the
        # provider worked: keep the id for the record and stop the prediction, so nothing runs
        # (and bills) unseen.
        _abandon_prediction(scene_id, submission.prediction_id, provider)
        return Outcome()
    if seed is not None and not submission.seed_applied:
        _add_warning(
            generation.pk,
            f"Scene {scene.number}: the seed was NOT applied "
            f"({submission.seed_note or 'the model rejected it'}).",
        )
    if submission.model_version and not generation.model_version:
        # Pin the version the provider actually ran, so a regeneration replays the same model.
        Generation.objects.filter(pk=generation.pk, model_version="").update(
            model_version=submission.model_version
        )
    return advance_scene(scene_id=scene_id)


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
    """Run a write, retrying on a lost database connection for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable while storing a prediction id; retrying")
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


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

    Called right after submission, by the poller, by the webhook (with the ``state`` read from its
    verified body, which saves a GET) and by the reconciler; only the first caller to see the end
    records it.
    """
    scene = Scene.objects.select_related("generation").get(pk=scene_id)
    if scene.status != Scene.Status.RUNNING or not scene.prediction_id:
        return Outcome()
    provider = get_provider(scene.generation.provider)
    if state is None:
        try:
            state = provider.fetch(scene.prediction_id)
        except ProviderError as exc:
            if exc.retryable:
                return Outcome(poll=True)
            return fail_scene(scene_id=scene_id, message=str(exc))
    if not state.status.is_terminal:
        return Outcome(poll=True)
    if state.status != PredictionStatus.SUCCEEDED:
        reason = state.error or f"the prediction was {state.status.value}"
        return fail_scene(scene_id=scene_id, message=f"prediction {state.prediction_id}: {reason}")
    try:
        _store_outputs(scene, provider, state)
    except (ProviderError, media.MediaError, OSError) as exc:
        return fail_scene(scene_id=scene_id, message=f"could not store the output: {exc}")
    return _after_scene_succeeded(scene)


def _store_outputs(scene: Scene, provider: Any, state: PredictionState) -> None:
    generation = scene.generation
    folder = f"generations/{generation.pk}/scenes"
    Path(settings.MEDIA_ROOT, folder).mkdir(parents=True, exist_ok=True)
    stem = f"scene-{scene.number:02d}"
    clip_name = f"{folder}/{stem}.mp4"
    frame_name = f"{folder}/{stem}.last.png"
    latent_name = f"{folder}/{stem}.latent.npy"
    with tempfile.TemporaryDirectory(dir=settings.MEDIA_ROOT) as tmp:
        fetched = provider.fetch_output(state, Path(tmp))
        # Bring every clip to one house format on arrival, so stitching is a stream copy.
        normalized = Path(tmp) / "normalized.mp4"
        info = media.normalize(
            fetched.video_path,
            normalized,
            width=generation.width,
            height=generation.height,
            fps=generation.fps,
        )
        media.save_png(media.last_frame(normalized), Path(tmp) / "last.png")
        # os.replace is atomic: a concurrent completer can never leave a half-written file.
        Path(tmp, "last.png").replace(_media_path(frame_name))
        normalized.replace(_media_path(clip_name))
        has_latent = fetched.latent_path is not None
        if has_latent:
            shutil.copyfile(fetched.latent_path, Path(tmp) / "latent.npy")
            Path(tmp, "latent.npy").replace(_media_path(latent_name))
    spec = get_model(generation.model)
    cost = (
        Decimal(str(spec.price_per_second)) * Decimal(str(spec.rendered_seconds(scene.duration)))
        if spec.price_per_second is not None
        else None
    )
    stored = Scene.objects.filter(pk=scene.pk, status=Scene.Status.RUNNING).update(
        status=Scene.Status.SUCCEEDED,
        clip=clip_name,
        last_frame=frame_name,
        final_latent=latent_name if has_latent else "",
        frame_count=info.frame_count,
        cost=cost,
        finished_at=timezone.now(),
    )
    if stored:  # the outputs are ours now; the scratch (raw render, prompt record) can go
        discard_prediction_scratch(state.prediction_id)


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
    updated = (
        Generation.objects.filter(pk=generation_id)
        .exclude(status__in=Generation.TERMINAL)
        .update(status=status, stage=status, error=error, finished_at=now, updated_at=now)
    )
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
    """Stitch the clips, score coherence, mark the generation succeeded. Idempotent."""
    statuses = [Generation.Status.RUNNING]
    if allow_restitch:  # the reconciler re-runs a stitch whose worker died
        statuses.append(Generation.Status.STITCHING)
    scenes = list(Scene.objects.filter(generation_id=generation_id).order_by("index"))
    if not scenes or any(s.status != Scene.Status.SUCCEEDED for s in scenes):
        return False
    claimed = Generation.objects.filter(pk=generation_id, status__in=statuses).update(
        status=Generation.Status.STITCHING,
        stage="stitching",
        progress=90,
        updated_at=timezone.now(),
    )
    if not claimed:
        return False
    generation = Generation.objects.get(pk=generation_id)
    try:
        name = f"generations/{generation.pk}/video.mp4"
        with tempfile.TemporaryDirectory(dir=settings.MEDIA_ROOT) as tmp:
            clips = [_media_path(s.clip.name) for s in scenes]
            if generation.coherence_settings.get("color_match") and len(clips) > 1:
                matched = [clips[0]]
                for scene, clip in zip(scenes[1:], clips[1:], strict=True):
                    out = Path(tmp) / f"matched-{scene.number:02d}.mp4"
                    coherence.color_match_clip(clip, clips[0], out)
                    matched.append(out)
                clips = matched
            stitched = Path(tmp) / "video.mp4"
            info = media.concat(clips, stitched, metadata=recipe_metadata(generation))
            _set_progress(generation_id, stage="scoring coherence", progress=95)
            report = coherence.score_clips(
                [
                    coherence.SceneClip(index=s.index, path=clip, continuous=s.continuous)
                    for s, clip in zip(scenes, clips, strict=True)
                ]
            )
            stitched.replace(_media_path(name))
    except (media.MediaError, coherence.CoherenceError, OSError, ValueError) as exc:
        fail_generation(generation_id=generation_id, message=f"Stitching failed: {exc}")
        return False
    costs = [s.cost for s in scenes if s.cost is not None]
    Generation.objects.filter(pk=generation_id, status=Generation.Status.STITCHING).update(
        status=Generation.Status.SUCCEEDED,
        stage="done",
        progress=100,
        video=name,
        frame_count=info.frame_count,
        coherence_score=report.score,
        coherence_report=report.to_dict(),
        cost=sum(costs, Decimal(0)) if costs else None,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    logger.info("generation %s finished: %s", generation_id, name)
    return True
