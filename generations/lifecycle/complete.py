"""The complete step: look at a running scene's prediction (poller, webhook, reconciler) and,
once it has ended, store its outputs in the house format, or fail the scene; then say what is
next (the continuous successor, or the finish)."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from generations.lifecycle import leases
from generations.lifecycle.engine import get_model, get_provider
from generations.lifecycle.failure import fail_scene
from generations.lifecycle.outcome import Outcome
from generations.media import storage
from generations.media.cleanup import discard_prediction_scratch
from generations.models import Generation, Scene
from generations.webhooks_out.events import Event, outbox, record_event
from pipeline import media
from pipeline.providers.base import PredictionState, PredictionStatus, ProviderError


def _scene_progress(generation_id: uuid.UUID, scenes: list[dict[str, Any]]) -> None:
    """Scenes carry the bulk of the work: 5%..90% of the bar, by scene seconds done."""
    total = sum(s["duration"] for s in scenes) or 1.0
    done = [s for s in scenes if s["status"] == Scene.Status.SUCCEEDED]
    Generation.objects.filter(pk=generation_id, status=Generation.Status.RUNNING).update(
        progress=5 + int(85 * sum(s["duration"] for s in done) / total),
        stage=f"rendering scenes ({len(done)}/{len(scenes)} done)",
        updated_at=timezone.now(),
    )


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
    return conclude(scene, provider, state)


def conclude(
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
class NormalizedOutputs:
    """A finished prediction's files, local and in the house format, ready to store."""

    clip: Path
    last_frame: Path
    latent: Path | None
    frame_count: int
    output_seconds: float  # what the model rendered (and billed), before resampling


def _normalized_outputs(generation: Generation, fetched: Any, work: Path) -> NormalizedOutputs:
    # Clips may arrive at another frame rate (minimax: 25 fps) and size; bringing every clip to
    # one house format on arrival makes the final stitch a stream copy.
    probed = media.probe(fetched.video_path)  # once: its duration is what the model billed
    size = {"width": generation.width, "height": generation.height, "fps": generation.fps}
    if media.in_house_format(probed, **size):
        # Stored as it came (every local render): no copy, and the model's own lossless last
        # frame, when it kept one, is this clip's.
        clip, last, frames = fetched.video_path, fetched.last_frame_path, probed.frame_count
    else:
        clip, last = work / "normalized.mp4", None
        frames = media.normalize(fetched.video_path, clip, **size, probed=probed).frame_count
    if last is None:  # decoded from the clip (2-4 ms at 64 px, more at 720p)
        last = work / "last.png"
        media.save_png(media.last_frame(clip), last)
    return NormalizedOutputs(clip, last, fetched.latent_path, frames, probed.duration)


def _save_outputs(stem: str, outputs: NormalizedOutputs) -> dict[str, str]:
    """Store the files through the media storage; the Scene field values they get."""
    return {
        "clip": storage.save_file(f"{stem}.mp4", outputs.clip),
        "last_frame": storage.save_file(f"{stem}.last.png", outputs.last_frame),
        "final_latent": (
            storage.save_file(f"{stem}.latent.npy", outputs.latent) if outputs.latent else ""
        ),
    }


def _with_final_latent(recipe: dict[str, Any] | None, latent: Path | None) -> dict[str, Any] | None:
    """The recipe with the sha256 of the scene's stored final latent, which a continuous
    successor's hand-over names (its ``handover.sha256``)."""
    if latent is None:
        return recipe
    return {**(recipe or {}), "final_latent_sha256": media.sha256_file(latent)}


def _store_outputs(scene: Scene, provider: Any, state: PredictionState, token: str) -> bool:
    """Fetch, normalise and store a scene's outputs; False if the claim was lost meanwhile."""
    generation = scene.generation
    stem = f"generations/{generation.pk}/scenes/scene-{scene.number:02d}"
    with tempfile.TemporaryDirectory(prefix="coherence-scene-") as tmp:
        outputs = _normalized_outputs(
            generation, provider.fetch_output(state, Path(tmp)), Path(tmp)
        )
        saved = _save_outputs(stem, outputs)
        recipe = _with_final_latent(scene.recipe, outputs.latent)
    with outbox(generation):
        updated = Scene.objects.filter(
            pk=scene.pk, status=Scene.Status.RUNNING, claimed_by=token
        ).update(
            status=Scene.Status.SUCCEEDED,
            **saved,
            recipe=recipe,
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
