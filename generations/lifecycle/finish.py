"""The finish step: stitch the scenes' clips into one video, score its coherence, and mark the
generation succeeded, under a lease the reconciler takes over only from a dead worker."""

from __future__ import annotations

import logging
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

from django.db.models import Q
from django.utils import timezone

from generations.lifecycle import leases
from generations.lifecycle.failure import fail_generation
from generations.lifecycle.outcome import set_progress
from generations.media import storage
from generations.models import Generation, Scene
from generations.selectors import recipe_metadata
from generations.webhooks_out.events import Event, outbox, record_event
from pipeline import media
from pipeline.coherence import colour, score
from pipeline.coherence.frames import CoherenceError

logger = logging.getLogger("coherence.pipeline")


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
    if generation.render_settings.get("color_match") and len(clips) > 1:
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
            set_progress(generation_id, stage="scoring coherence", progress=95)
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
