"""Write-side business logic for generations. Views, serializers, admin and commands call these."""

from __future__ import annotations

import numbers
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from generations.coherence_settings import merge_coherence_settings
from generations.models import SEED_MAX, Generation, Scene
from pipeline.providers.registry import (
    LOCAL_MODEL,
    LOCAL_PROVIDER,
    REPLICATE_PROVIDER,
    UnknownModelError,
    get_model,
)

DEFAULT_MODELS = {LOCAL_PROVIDER: LOCAL_MODEL, REPLICATE_PROVIDER: "bytedance/seedance-1-lite"}


class _KeepSeed:
    """Sentinel: regenerate with the source generation's seed."""

    def __repr__(self) -> str:
        return "KEEP_SEED"


KEEP_SEED: Any = _KeepSeed()


def validate_seed(seed: Any, *, field: str = "seed") -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValidationError({field: "Seed must be a whole number."})
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValidationError({field: f"Seed must be between 0 and {SEED_MAX}."})
    return int(seed)


def validate_plan(scenes: Any) -> list[dict[str, Any]]:
    """Check the scene plan and return it normalised; errors are keyed ``scenes.N.field``."""
    if not isinstance(scenes, list) or not scenes:
        raise ValidationError({"scenes": "The plan needs at least one scene."})
    if len(scenes) > settings.COHERENCE_MAX_SCENES:
        raise ValidationError(
            {"scenes": f"A plan has at most {settings.COHERENCE_MAX_SCENES} scenes."}
        )
    low, high = settings.COHERENCE_MIN_SCENE_SECONDS, settings.COHERENCE_MAX_SCENE_SECONDS
    errors: dict[str, str] = {}
    plan: list[dict[str, Any]] = []
    for index, scene in enumerate(scenes):
        key = f"scenes.{index}"
        if not isinstance(scene, dict):
            errors[key] = "Each scene must be an object with prompt, duration and continuous."
            continue
        unknown = set(scene) - {"prompt", "duration", "continuous"}
        if unknown:
            errors[key] = f"Unknown scene field(s): {', '.join(sorted(unknown))}."
        prompt = scene.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            errors[f"{key}.prompt"] = "The prompt must be a non-empty string."
        elif len(prompt) > 2000:
            errors[f"{key}.prompt"] = "The prompt is longer than 2000 characters."
        duration = scene.get("duration")
        if isinstance(duration, bool) or not isinstance(duration, numbers.Real):
            errors[f"{key}.duration"] = "The duration must be a number of seconds."
        elif not low <= float(duration) <= high:
            errors[f"{key}.duration"] = f"The duration must be between {low} and {high} seconds."
        continuous = scene.get("continuous", False)
        if not isinstance(continuous, bool):
            errors[f"{key}.continuous"] = "'continuous' must be true or false."
        elif continuous and index == 0:
            errors[f"{key}.continuous"] = "The first scene cannot continue a previous one."
        if not any(k.startswith(key) for k in errors):
            plan.append(
                {"prompt": prompt.strip(), "duration": float(duration), "continuous": continuous}
            )
    if errors:
        raise ValidationError(errors)
    return plan


def resolve_model(*, provider: str | None, model: str | None) -> tuple[str, str]:
    provider = provider or settings.COHERENCE_PROVIDER
    if provider not in DEFAULT_MODELS:
        raise ValidationError(
            {"provider": f"Unknown provider {provider!r}; use one of {', '.join(DEFAULT_MODELS)}."}
        )
    if not model:
        model = (
            settings.COHERENCE_DEFAULT_MODEL
            if provider == settings.COHERENCE_PROVIDER and settings.COHERENCE_DEFAULT_MODEL
            else DEFAULT_MODELS[provider]
        )
    try:
        spec = get_model(model)
    except UnknownModelError as exc:
        raise ValidationError({"model": str(exc)}) from None
    if spec.provider != provider:
        raise ValidationError(
            {"model": f"Model {model!r} runs on {spec.provider!r}, not on {provider!r}."}
        )
    return provider, model


def create_generation(
    *,
    scenes: Any,
    title: str = "",
    coherence_settings: Any = None,
    provider: str | None = None,
    model: str | None = None,
    model_version: str = "",
    seed: Any = None,
    owner: Any = None,
    source_generation: Generation | None = None,
    enqueue: bool = True,
) -> Generation:
    """Validate and store a Generation with its Scenes, then enqueue its start after commit.

    All validation happens before the first write, and the writes are atomic: a bad plan leaves the
    database unchanged.
    """
    errors: dict[str, Any] = {}
    results: dict[str, Any] = {}
    checks = {
        "plan": lambda: validate_plan(scenes),
        "settings": lambda: merge_coherence_settings(coherence_settings),
        "seed": lambda: validate_seed(seed),
        "model": lambda: resolve_model(provider=provider, model=model),
    }
    for name, check in checks.items():
        try:
            results[name] = check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not isinstance(title, str) or len(title) > 200:
        errors["title"] = ["The title must be text of at most 200 characters."]
    if errors:
        raise ValidationError(errors)

    plan, merged, seed_value = results["plan"], results["settings"], results["seed"]
    provider, model = results["model"]
    if seed_value is not None and not merged["seed_control"]:
        raise ValidationError({"seed": "A seed was given but seed control is off."})
    spec = get_model(model)
    if merged["latent_reuse"] and not spec.can_continue and any(s["continuous"] for s in plan):
        raise ValidationError(
            {
                "model": f"Model {model!r} has no first-frame image input, so it cannot continue a "
                "scene; turn latent_reuse off or mark no scene continuous."
            }
        )

    with transaction.atomic():
        generation = Generation.objects.create(
            owner=owner,
            title=title,
            coherence_settings=merged,
            seed_value=seed_value,
            provider=provider,
            model=model,
            model_version=model_version or "",
            width=settings.COHERENCE_VIDEO_WIDTH,
            height=settings.COHERENCE_VIDEO_HEIGHT,
            fps=settings.COHERENCE_VIDEO_FPS,
            source_generation=source_generation,
        )
        Scene.objects.bulk_create(
            Scene(generation=generation, index=index, **scene) for index, scene in enumerate(plan)
        )
        if enqueue:
            from pipeline.tasks import enqueue_start_generation

            transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    return generation


def plan_of(generation: Generation) -> list[dict[str, Any]]:
    return [
        {"prompt": s.prompt, "duration": s.duration, "continuous": s.continuous}
        for s in generation.scenes.order_by("index")
    ]


def regenerate_generation(
    *,
    source: Generation,
    seed: Any = KEEP_SEED,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
) -> Generation:
    """A new generation with the source's plan, settings, model version and (by default) seed.

    ``seed=None`` draws a fresh seed (when seed control is on); an int overrides it.
    """
    settings_ = dict(source.coherence_settings)
    if seed is KEEP_SEED:
        seed = source.seed_value
    return create_generation(
        scenes=plan_of(source),
        title=title if title is not None else source.title,
        coherence_settings=settings_,
        provider=source.provider,
        model=source.model,
        model_version=source.model_version,
        seed=seed,
        owner=owner if owner is not None else source.owner,
        source_generation=source,
        enqueue=enqueue,
    )
