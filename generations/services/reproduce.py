"""Making a generation again: regenerate one from the database (same plan, settings, model
version and, by default, seed), replay the recipe a final video carries, and compare a
regeneration with its source clip by clip."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from generations.media import storage
from generations.models import Generation
from generations.selectors import find_generation, generation_with_video
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.compare import NOT_COMPARED, ClipComparison, compare_videos


class _KeepSeed:
    """Sentinel: regenerate with the source generation's seed."""

    def __repr__(self) -> str:
        return "KEEP_SEED"


KEEP_SEED: Any = _KeepSeed()


def plan_of(generation: Generation) -> list[dict[str, Any]]:
    """The generation's plan, with each scene's start image (bytes) when it had one."""
    plan = []
    for scene in generation.scenes.order_by("index"):
        item: dict[str, Any] = {
            "prompt": scene.prompt,
            "duration": scene.plan_duration,  # a preview's plan, not its shortened durations
            "continuous": scene.continuous,
        }
        if scene.image:
            item["image"] = storage.stored_bytes(scene.image)
        plan.append(item)
    return plan


def regenerate_generation(
    *,
    source: Generation,
    seed: Any = KEEP_SEED,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
    actor: Any = None,
) -> Generation:
    """A new generation with the source's plan, settings, model version and (by default) seed.

    ``seed=None`` draws a fresh seed (when seed control is on); an int overrides it. ``actor`` is
    who asks (see ``create_generation``).
    """
    settings_ = dict(source.render_settings)
    if seed is KEEP_SEED:
        if source.awaits_seed:
            raise ValidationError(
                {
                    "seed": "The source generation has no seed yet (it has not started), so there "
                    "is no seed to keep; give a seed, or null for a fresh one."
                }
            )
        seed = source.seed
    request = GenerationRequest(
        scenes=plan_of(source),
        title=title if title is not None else source.title,
        coherence_settings=settings_,
        provider=source.provider,
        model=source.model,
        model_version=source.model_version,
        seed=seed,
        reference_image=storage.stored_bytes(source.reference_image),
        source_generation=source,
        quality=source.quality,
    )
    owner = owner if owner is not None else source.owner
    return create_generation(request, owner=owner, enqueue=enqueue, actor=actor)


def recipe_from_video(path: Path) -> dict[str, Any]:
    """The recipe a final video carries in its metadata (written by
    ``generations.selectors.recipe_metadata``). Every failure is a ValidationError on "video"."""
    try:
        raw = media.read_metadata(Path(path)).get("coherence_recipe")
    except media.MediaError as exc:
        raise ValidationError({"video": str(exc)}) from None
    if not raw:
        raise ValidationError(
            {"video": f"{path} carries no coherence recipe (only final Coherence videos do)."}
        )
    try:
        recipe = json.loads(raw)
    except json.JSONDecodeError:
        raise ValidationError(
            {"video": f"{path}: its coherence recipe is not valid JSON."}
        ) from None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("scenes"), list):
        raise ValidationError({"video": f"{path}: its coherence recipe has no list of scenes."})
    return recipe


def replay_recipe(
    *,
    recipe: dict[str, Any],
    seed: Any = KEEP_SEED,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
    actor: Any = None,
    source_generation: Generation | None = None,
) -> Generation:
    """A new generation from an embedded recipe: no database source is needed (the new
    generation is linked to ``source_generation`` when the caller knows it)."""
    scenes = [
        {key: scene[key] for key in ("prompt", "duration", "continuous") if key in scene}
        if isinstance(scene, dict)
        else scene
        for scene in recipe.get("scenes", [])
    ]
    model_version = recipe.get("model_version") or ""
    if not isinstance(model_version, str):
        raise ValidationError({"model_version": "The recipe's model version must be text."})
    return create_generation(
        GenerationRequest(
            scenes=scenes,
            title=title if title is not None else recipe.get("title") or "",
            coherence_settings=recipe.get("coherence_settings"),
            provider=recipe.get("provider"),
            model=recipe.get("model"),
            model_version=model_version,
            seed=recipe.get("seed") if seed is KEEP_SEED else seed,
            source_generation=source_generation,
        ),
        owner=owner,
        enqueue=enqueue,
        actor=actor,
    )


def replay_video(
    *, path: Path, seed: Any = KEEP_SEED, title: str | None = None, actor: Any = None
) -> Generation:
    """A new generation from the recipe embedded in the final video at ``path``, linked to the
    first generation that made those bytes when this database has it. (Files made before the
    recipe left ids out name their generation: that link is kept.)"""
    recipe = recipe_from_video(path)
    source = generation_with_video(sha256=media.sha256_file(Path(path))) or find_generation(
        str(recipe.get("generation") or "")
    )
    return replay_recipe(
        recipe=recipe, seed=seed, title=title, actor=actor, source_generation=source
    )


def compare_regeneration(*, original: Generation, regenerated: Generation) -> list[ClipComparison]:
    """Each regenerated scene against the original scene of the same index, then the final
    videos (the same recipe gives the same bytes: the file names no generation). The files are
    read through the storage into a temporary directory."""
    originals = {scene.index: scene for scene in original.scenes.all()}
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="coherence-compare-") as tmp:
        work = Path(tmp)
        for scene in regenerated.scenes.order_by("index"):
            label = f"scene {scene.number}"
            source = originals.get(scene.index)
            if source is None or not source.clip or not scene.clip:
                missing = "regenerated" if source is not None and source.clip else "original"
                comparisons.append(
                    ClipComparison(label, NOT_COMPARED, note=f"the {missing} scene has no clip")
                )
                continue
            a = storage.download(source.clip, work / f"a-{scene.number}.mp4")
            b = storage.download(scene.clip, work / f"b-{scene.number}.mp4")
            comparisons.append(compare_videos(a, b, label=label))
        if original.video and regenerated.video:
            a = storage.download(original.video, work / "a-video.mp4")
            b = storage.download(regenerated.video, work / "b-video.mp4")
            comparisons.append(compare_videos(a, b, label="final video"))
    return comparisons
