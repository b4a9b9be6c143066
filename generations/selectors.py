"""Read-side queries. Views, admin and commands read through these."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from generations.models import Generation, HostedModelSchema, IdempotencyKey, Scene
from pipeline.providers.schema import InputSchema, schema_or_none

# What acting on someone else's generation takes: Django's model permissions, held by a staff user.
# On one's own generation every action is allowed (hosted models aside: see
# generations.services.limits).
ACTION_PERMISSIONS = {
    "view": ("generations.view_generation", "generations.change_generation"),
    "cancel": ("generations.change_generation",),
    "regenerate": ("generations.change_generation",),
    "delete": ("generations.delete_generation",),
}


def _is_active_staff(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def sees_all_generations(user: Any) -> bool:
    """Staff with ``view_generation`` (or ``change_generation``, which implies it)."""
    return _is_active_staff(user) and any(
        user.has_perm(perm) for perm in ACTION_PERMISSIONS["view"]
    )


def may_act_on(user: Any, generation: Generation, action: str) -> bool:
    """May ``user`` do ``action`` (view, cancel, regenerate, delete) to ``generation``?"""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if generation.owner_id is not None and generation.owner_id == user.pk:
        return True
    return _is_active_staff(user) and any(
        user.has_perm(perm) for perm in ACTION_PERMISSIONS[action]
    )


def generations_visible_to(user: Any) -> QuerySet[Generation]:
    """A user's own generations; everyone's for staff who hold ``view_generation``."""
    queryset = Generation.objects.select_related("owner", "source_generation")
    if sees_all_generations(user):
        return queryset
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return queryset.none()
    return queryset.filter(owner=user)


def active_generation_count(*, owner: Any) -> int:
    """Generations of ``owner`` that still hold (or wait for) a worker. A generation awaiting the
    choice of a seed variation waits for a person, not a worker: it counts again once chosen."""
    unfinished = Generation.objects.filter(owner=owner).exclude(
        status__in=[*Generation.TERMINAL, Generation.Status.AWAITING_CHOICE]
    )
    return unfinished.count()


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
    return base.filter(Q(seed=seed) | Q(scenes__seed=seed)).distinct()


def scenes_with_seed(*, seed: int, user: Any | None = None) -> QuerySet[Scene]:
    scenes = Scene.objects.select_related("generation").filter(seed=seed)
    if user is not None:
        scenes = scenes.filter(generation__in=generations_visible_to(user).values("pk"))
    return scenes


def generation_with_video(*, sha256: str) -> Generation | None:
    """The first generation whose final video has these bytes (replays of one recipe share
    them), or None."""
    return Generation.objects.filter(video_sha256=sha256).order_by("created_at").first()


def generation_recipe(generation: Generation) -> dict[str, Any]:
    """The recipe that is embedded in the generation's final video, as a dict."""
    return json.loads(recipe_metadata(generation)["coherence_recipe"])


def continuity_by_boundary(generation: Generation) -> dict[int, dict[str, Any]]:
    """The coherence report's boundaries keyed by the index of the scene they lead into."""
    report = generation.coherence_report or {}
    return {b["to_index"]: b for b in report.get("boundaries", [])}


def generations_with_scenes(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    """``queryset`` with every generation's scenes (and each scene's latent source) prefetched."""
    scenes = Scene.objects.select_related("handover_from").order_by("index")
    return queryset.prefetch_related(Prefetch("scenes", queryset=scenes))


def idempotency_record(*, owner: Any, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.select_related("generation").filter(owner=owner, key=key).first()


def recipe_metadata(generation: Generation) -> dict[str, str]:
    """The generation's recipe, embedded in the final mp4 so it can be replayed without the DB.

    Only what makes the video goes in, never an id or a time: the same recipe gives the same
    bytes. A file is tied to its generation in the database (``Generation.video_sha256``).
    """
    scenes = list(generation.scenes.order_by("index"))
    recipe = {
        "title": generation.title,
        "provider": generation.provider,
        "model": generation.model,
        "model_version": generation.model_version,
        "seed": generation.seed,
        "coherence_settings": generation.render_settings,  # the recipe's (and API's) key
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


def stored_schema(model: str) -> InputSchema | None:
    """The model's live input schema as ``sync_models`` last stored it, if ever."""
    component = (
        HostedModelSchema.objects.filter(model=model).values_list("input_schema", flat=True).first()
    )
    return schema_or_none(component)
