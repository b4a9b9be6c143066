"""Read-side queries. Views, admin and commands read through these."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from generations.models import Generation, IdempotencyKey, Scene


def generations_visible_to(user: Any) -> QuerySet[Generation]:
    """Staff see everything; everyone else only their own generations."""
    queryset = Generation.objects.select_related("owner", "source_generation")
    if getattr(user, "is_staff", False):
        return queryset
    return queryset.filter(owner=user)


def find_generation(reference: str) -> Generation | None:
    """A generation by its UUID, or None when the reference is not a UUID or matches nothing."""
    try:
        generation_id = uuid.UUID(str(reference).strip())
    except ValueError:
        return None
    return Generation.objects.filter(pk=generation_id).first()


def generations_with_seed(*, seed: int, user: Any | None = None) -> QuerySet[Generation]:
    """Generations that used ``seed``: as their generation seed, or sent to any of their scenes."""
    base = generations_visible_to(user) if user is not None else Generation.objects.all()
    return base.filter(Q(seed_value=seed) | Q(scenes__seed=seed)).distinct()


def scenes_with_seed(*, seed: int, user: Any | None = None) -> QuerySet[Scene]:
    scenes = Scene.objects.select_related("generation").filter(seed=seed)
    if user is not None and not getattr(user, "is_staff", False):
        scenes = scenes.filter(generation__owner=user)
    return scenes


def generation_recipe(generation: Generation) -> dict[str, Any]:
    """The recipe that is embedded in the generation's final video, as a dict."""
    return json.loads(recipe_metadata(generation)["coherence_recipe"])


def continuity_by_boundary(generation: Generation) -> dict[int, dict[str, Any]]:
    """The coherence report's boundaries keyed by the index of the scene they lead into."""
    report = generation.coherence_report or {}
    return {b["to_index"]: b for b in report.get("boundaries", [])}


def generations_with_scenes(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    """``queryset`` with every generation's scenes (and each scene's latent source) prefetched."""
    scenes = Scene.objects.select_related("latent_source").order_by("index")
    return queryset.prefetch_related(Prefetch("scenes", queryset=scenes))


def idempotency_record(*, owner: Any, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.select_related("generation").filter(owner=owner, key=key).first()


def recipe_metadata(generation: Generation) -> dict[str, str]:
    """The generation's recipe, embedded in the final mp4 so it can be replayed without the DB."""
    scenes = list(generation.scenes.order_by("index"))
    recipe = {
        "generation": str(generation.pk),
        "title": generation.title,
        "provider": generation.provider,
        "model": generation.model,
        "model_version": generation.model_version,
        "seed": generation.seed_value,
        "coherence_settings": generation.coherence_settings,
        "size": [generation.width, generation.height],
        "fps": generation.fps,
        "scenes": [
            {
                "prompt": s.prompt,
                "duration": s.duration,
                "continuous": s.continuous,
                "seed": s.seed,
                "seed_applied": s.seed_applied,
            }
            for s in scenes
        ],
    }
    return {"coherence_recipe": json.dumps(recipe, sort_keys=True), "title": generation.title}
