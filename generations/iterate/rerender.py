"""Re-render one scene: a new generation linked to the original (``source_generation``) that
copies every unaffected scene's render and renders scene n plus the continuous scenes after it
that start from its final latent. Nothing else reaches the model."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from coherence_project.conf import config
from generations.iterate.reuse import can_reuse, derive_generation, reuse_render, settle_estimate
from generations.lifecycle.engine import get_model
from generations.lifecycle.queue import enqueue_start_generation
from generations.models import Generation, Scene
from generations.services.plans import validate_seed
from generations.services.reproduce import KEEP_SEED, plan_of
from pipeline import cheapest_settings
from pipeline.planning import estimate_cost
from pipeline.seeds import generate_seed


@dataclass(frozen=True)
class RerenderPlan:
    """Which scenes (0-based) a re-render renders and which it copies, and what it costs."""

    rendered: tuple[int, ...]
    reused: tuple[int, ...]
    estimated_cost: Decimal | None


def affected_indexes(scenes: list[Scene], index: int, *, latent_reuse: bool) -> list[int]:
    """Scene ``index`` and the unbroken run of continuous scenes after it: each starts from the
    one before, so a new render of one changes all of them."""
    affected = [index]
    following = index + 1
    while latent_reuse and following < len(scenes) and scenes[following].continuous:
        affected.append(following)
        following += 1
    return affected


def _scene_index(source: Generation, number: Any) -> tuple[list[Scene], int]:
    scenes = list(source.scenes.order_by("index"))
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(scenes):
        raise ValidationError(
            {"scene": f"Scene numbers of this generation run from 1 to {len(scenes)}."}
        )
    return scenes, number - 1


def _scene_seed(source: Generation, seed: Any) -> int | None:
    """The seed override for the re-rendered scene: None keeps the generation's seed."""
    if seed is KEEP_SEED:
        return None
    if not source.seed_control:
        raise ValidationError({"seed": "Seed control is off for this generation: no seed is sent."})
    return generate_seed() if seed is None else validate_seed(seed)


def plan_rerender(*, source: Generation, number: Any, duration: Any = None) -> RerenderPlan:
    """What re-rendering scene ``number`` (1-based) would render, copy and cost; raises a
    ValidationError when a scene it needs to copy has no finished render."""
    scenes, index = _scene_index(source, number)
    rendered = affected_indexes(scenes, index, latent_reuse=source.latent_reuse)
    reused = [s.index for s in scenes if s.index not in rendered]
    missing = [scenes[i].number for i in reused if not can_reuse(scenes[i])]
    if missing:
        raise ValidationError(
            {
                "scene": f"Scene(s) {', '.join(map(str, missing))} of the source have no finished "
                "render to reuse; regenerate the whole generation instead."
            }
        )
    spec = get_model(source.model)
    durations = [scenes[i].duration for i in rendered]
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        durations[0] = duration
        if source.quality == Generation.Quality.PREVIEW:
            durations[0] = cheapest_settings.preview_durations(
                spec, [duration], min_seconds=config.MIN_SCENE_SECONDS, fps=source.fps
            )[0]
    cost = estimate_cost(
        spec, durations, width=source.width, height=source.height, fps=source.fps
    ).total
    return RerenderPlan(tuple(rendered), tuple(reused), cost)


def _new_plan(source: Generation, index: int, prompt: Any, duration: Any) -> list[dict[str, Any]]:
    plan = plan_of(source)
    if prompt is not None:
        plan[index]["prompt"] = prompt
    if duration is not None:
        plan[index]["duration"] = duration
    return plan


def rerender_scene(
    *,
    source: Generation,
    number: Any,
    prompt: Any = None,
    duration: Any = None,
    seed: Any = KEEP_SEED,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
    actor: Any = None,
) -> Generation:
    """A new generation that renders only scene ``number`` (1-based, optionally with a new
    prompt, duration or seed) and the continuous scenes that depend on it, and reuses the rest.

    ``seed``: KEEP_SEED (default) keeps the generation's seed, an int is sent to that scene
    alone, None draws a fresh one for it.
    """
    if source.awaits_seed:
        raise ValidationError(
            {"seed": "The source generation has no seed yet (it has not started)."}
        )
    planned = plan_rerender(source=source, number=number, duration=duration)
    index = number - 1
    override = _scene_seed(source, seed)
    with transaction.atomic():
        generation = derive_generation(
            source,
            scenes=_new_plan(source, index, prompt, duration),
            quality=source.quality,
            owner=owner,
            title=title,
            actor=actor,
        )
        _reuse_unaffected(source, generation, planned.reused)
        settle_estimate(generation)
        if override is not None:
            Scene.objects.filter(generation=generation, index=index).update(seed_override=override)
        if enqueue:
            transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    return generation


def _reuse_unaffected(source: Generation, generation: Generation, reused: tuple[int, ...]) -> None:
    sources = {s.index: s for s in source.scenes.all()}
    previous: Scene | None = None
    for scene in generation.scenes.order_by("index"):
        if scene.index in reused:
            reuse_render(source=sources[scene.index], target=scene, predecessor=previous)
        previous = scene
