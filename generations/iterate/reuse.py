"""Reusing a scene's render in another generation: the clip, last frame and latent are copied
byte for byte through the storage API, the scene is stored already succeeded, costs nothing, and
its recipe says it was not rendered and where it came from.

A continuous scene that follows a reused scene starts, as usual, from that scene's (copied)
latent or last frame: orchestration sees a succeeded predecessor like any other.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from django.utils import timezone

from generations.lifecycle.engine import get_model
from generations.media.storage import stored_bytes
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.planning import estimate_cost
from pipeline.seeds import scene_seed

RENDER_FILES = ("clip", "last_frame", "final_latent")


def can_reuse(scene: Scene) -> bool:
    return scene.status == Scene.Status.SUCCEEDED and bool(scene.clip) and bool(scene.last_frame)


def _copy_file(source: Any, target: Any) -> None:
    """Copy one stored file into ``target`` (a FieldFile) without touching the filesystem path:
    the storage backend may be S3."""
    if not source:
        return
    with source.open("rb") as handle:
        target.save(PurePosixPath(source.name).name, handle, save=False)


def reuse_render(*, source: Scene, target: Scene, predecessor: Scene | None) -> Scene:
    """Make ``target`` a succeeded copy of ``source``'s render. ``predecessor`` is the scene
    before ``target`` in its own generation (the latent source of a continuous scene)."""
    for name in RENDER_FILES:
        _copy_file(getattr(source, name), getattr(target, name))
    handover_from = predecessor if source.handover_from_id and predecessor else None
    target.status = Scene.Status.SUCCEEDED
    target.recipe = {
        **(source.recipe or {}),
        "rendered": False,
        "reused_from": {"generation": str(source.generation_id), "scene": source.number},
    }
    target.seed = source.seed
    target.seed_applied = source.seed_applied
    target.seed_note = source.seed_note
    target.model_version = source.model_version
    target.handover_method = source.handover_method
    target.handover_from = handover_from
    target.handover_sha256 = source.handover_sha256
    target.handover_frame = handover_from.last_frame.name if handover_from else ""
    target.frame_count = source.frame_count
    target.cost = Decimal(0)  # no prediction: nothing is billed for a reused scene
    target.finished_at = timezone.now()
    target.save()
    return target


def derive_generation(
    source: Generation,
    *,
    scenes: list[dict[str, Any]],
    quality: str,
    owner: Any = None,
    title: str | None = None,
    actor: Any = None,
) -> Generation:
    """A new generation (not enqueued) from ``source``'s settings, model, model version, seed and
    start images, linked to it; through ``create_generation``, so validation, the caps and the
    hosted-models permission of ``actor`` (default: the owner) apply."""
    return create_generation(
        GenerationRequest(
            scenes=scenes,
            title=title if title is not None else source.title,
            coherence_settings=dict(source.render_settings),
            provider=source.provider,
            model=source.model,
            model_version=source.model_version,
            seed=source.seed,
            reference_image=stored_bytes(source.reference_image),
            source_generation=source,
            quality=quality,
        ),
        owner=owner if owner is not None else source.owner,
        enqueue=False,
        actor=actor,
    )


def rendered_estimate(generation: Generation) -> Decimal | None:
    """What rendering this generation costs: its scenes that are (or were) rendered, not the
    ones copied from another generation. None when the model's price is unknown."""
    spec = get_model(generation.model)
    rendered = [
        scene.duration
        for scene in generation.scenes.all()
        if (scene.recipe or {}).get("rendered", True)
    ]
    return estimate_cost(
        spec, rendered, width=generation.width, height=generation.height, fps=generation.fps
    ).total


def settle_estimate(generation: Generation) -> None:
    """After reuse: the estimate counts only the scenes that will be rendered."""
    Generation.objects.filter(pk=generation.pk).update(estimated_cost=rendered_estimate(generation))


def _expected_seed(generation: Generation, scene: Scene) -> int | None:
    if not generation.seed_control:
        return None
    if scene.seed_override is not None:
        return scene.seed_override
    return scene_seed(
        base_seed=generation.seed,
        index=scene.index,
        mode=generation.render_settings.get("seed_mode", "shared"),
    )


def same_render(source: Scene, target: Scene) -> bool:
    """Whether rendering ``target`` would ask the model for exactly what made ``source``."""
    a, b = source.generation, target.generation
    return (
        can_reuse(source)
        and (a.provider, a.model, a.width, a.height, a.fps)
        == (b.provider, b.model, b.width, b.height, b.fps)
        and (not b.model_version or source.model_version == b.model_version)
        and (source.prompt, source.duration, source.continuous)
        == (target.prompt, target.duration, target.continuous)
        and a.latent_reuse == b.latent_reuse
        and source.seed == _expected_seed(b, target)
        and source.image_sha256 == target.image_sha256
        and a.reference_image_sha256 == b.reference_image_sha256
    )


def reuse_matching(*, source: Generation, target: Generation) -> list[int]:
    """Copy every scene of ``source`` that ``target`` would render identically; a continuous
    scene only when its predecessor was copied too (else its starting latent differs). Returns
    the reused indexes."""
    sources = {s.index: s for s in source.scenes.select_related("generation")}
    reused: list[int] = []
    previous: Scene | None = None
    for scene in target.scenes.select_related("generation").order_by("index"):
        match = sources.get(scene.index)
        chained = not (scene.continuous and target.latent_reuse) or scene.index - 1 in reused
        if match is not None and chained and same_render(match, scene):
            reuse_render(source=match, target=scene, predecessor=previous)
            reused.append(scene.index)
        previous = scene
    return reused
