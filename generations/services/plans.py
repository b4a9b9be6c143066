"""Checking a plan before anything is written: the scenes, settings, seed, provider and model of a
request, each error keyed by its field (``scenes.N.field``); ``review_plan`` adds the model's
inputs, images and cost. Nothing here writes."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from coherence_project.conf import config
from generations.lifecycle.engine import get_model
from generations.models import SEED_MAX, Generation
from generations.services import hosted_models as hosted
from generations.services import limits as caps
from generations.services.render_settings import merge_render_settings
from generations.services.request import GenerationRequest
from pipeline import cheapest_settings
from pipeline.providers.diffusion_families import DIFFUSERS_PROVIDER
from pipeline.providers.registry import (
    LOCAL_MODEL,
    LOCAL_PROVIDER,
    REPLICATE_PROVIDER,
    UnknownModelError,
    diffusers_model,
)

DEFAULT_MODELS = {
    LOCAL_PROVIDER: LOCAL_MODEL,
    REPLICATE_PROVIDER: "bytedance/seedance-1-lite",
    DIFFUSERS_PROVIDER: "",  # an operator's own: COHERENCE_DEFAULT_MODEL or the request's model
}


def validate_seed(seed: Any, *, field: str = "seed") -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValidationError({field: "Seed must be a whole number."})
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValidationError({field: f"Seed must be between 0 and {SEED_MAX}."})
    return int(seed)


SCENE_FIELDS = {"prompt", "duration", "continuous"}


MAX_PROMPT_CHARACTERS = 2000


def validate_plan(scenes: Any) -> list[dict[str, Any]]:
    """Check the scene plan and return it normalised; errors are keyed ``scenes.N.field``."""
    if not isinstance(scenes, list) or not scenes:
        raise ValidationError({"scenes": "The plan needs at least one scene."})
    if len(scenes) > config.MAX_SCENES:
        raise ValidationError({"scenes": f"A plan has at most {config.MAX_SCENES} scenes."})
    errors: dict[str, str] = {}
    plan: list[dict[str, Any]] = []
    for index, scene in enumerate(scenes):
        scene_errors = _scene_errors(index, scene)
        errors.update(scene_errors)
        if not scene_errors:
            plan.append(
                {
                    "prompt": scene["prompt"].strip(),
                    "duration": float(scene["duration"]),
                    "continuous": scene.get("continuous", False),
                }
            )
    if errors:
        raise ValidationError(errors)
    return plan


def _scene_errors(index: int, scene: Any) -> dict[str, str]:
    """What is wrong with one planned scene, keyed ``scenes.N`` or ``scenes.N.field``."""
    key = f"scenes.{index}"
    if not isinstance(scene, dict):
        return {key: "Each scene must be an object with prompt, duration and continuous."}
    errors = {}
    unknown = set(scene) - SCENE_FIELDS
    if unknown:
        errors[key] = f"Unknown scene field(s): {', '.join(sorted(unknown))}."
    checks = (
        ("prompt", _prompt_error(scene.get("prompt"))),
        ("duration", _duration_error(scene.get("duration"))),
        ("continuous", _continuous_error(scene.get("continuous", False), index)),
    )
    errors.update({f"{key}.{field}": error for field, error in checks if error})
    return errors


def _prompt_error(prompt: Any) -> str | None:
    if not isinstance(prompt, str) or not prompt.strip():
        return "The prompt must be a non-empty string."
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        return f"The prompt is longer than {MAX_PROMPT_CHARACTERS} characters."
    return None


def _duration_error(duration: Any) -> str | None:
    low, high = config.MIN_SCENE_SECONDS, config.MAX_SCENE_SECONDS
    if isinstance(duration, bool) or not isinstance(duration, numbers.Real):
        return "The duration must be a number of seconds."
    # Compared without float(): a JSON integer too big for a float must not crash the check.
    if not low <= duration <= high:
        return f"The duration must be between {low} and {high} seconds."
    return None


def _continuous_error(continuous: Any, index: int) -> str | None:
    if not isinstance(continuous, bool):
        return "'continuous' must be true or false."
    if continuous and index == 0:
        return "The first scene cannot continue a previous one."
    return None


def resolve_model(*, provider: str | None, model: str | None) -> tuple[str, str]:
    if provider is not None and not isinstance(provider, str):
        raise ValidationError({"provider": "The provider must be a string."})
    if model is not None and not isinstance(model, str):
        raise ValidationError({"model": "The model must be a string."})
    provider = provider or config.PROVIDER
    if provider not in DEFAULT_MODELS:
        raise ValidationError(
            {"provider": f"Unknown provider {provider!r}; use one of {', '.join(DEFAULT_MODELS)}."}
        )
    if not model:
        model = (
            config.DEFAULT_MODEL
            if provider == config.PROVIDER and config.DEFAULT_MODEL
            else DEFAULT_MODELS[provider]
        )
    if not model:
        raise ValidationError(
            {
                "model": "The diffusers provider needs a model: a hub id (e.g. "
                "Lightricks/LTX-Video) or a directory holding a diffusers pipeline."
            }
        )
    try:
        spec = diffusers_model(model) if provider == DIFFUSERS_PROVIDER else get_model(model)
    except UnknownModelError as exc:
        raise ValidationError({"model": str(exc)}) from None
    if spec.provider != provider:
        raise ValidationError(
            {"model": f"Model {model!r} runs on {spec.provider!r}, not on {provider!r}."}
        )
    return provider, model


def _validated(
    *, scenes: Any, render_settings: Any, seed: Any, provider: Any, model: Any, title: Any
) -> dict[str, Any]:
    """Every request-level check, with all their errors in one ValidationError."""
    errors: dict[str, Any] = {}
    results: dict[str, Any] = {}
    checks = {
        "plan": lambda: caps.check_plan_limits(validate_plan(scenes)),
        "settings": lambda: merge_render_settings(render_settings),
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
    if results["seed"] is not None and not results["settings"]["seed_control"]:
        raise ValidationError({"seed": "A seed was given but seed control is off."})
    return results


def _check_continuity(spec: Any, plan: list[dict[str, Any]], merged: dict[str, Any]) -> None:
    if merged["latent_reuse"] and not spec.can_continue and any(s["continuous"] for s in plan):
        raise ValidationError(
            {
                "model": f"Model {spec.name!r} has no first-frame image input, so it cannot "
                "continue a scene; turn latent_reuse off or mark no scene continuous."
            }
        )


@dataclass(frozen=True)
class PlanReview:
    """What ``review_plan`` settled: the normalised plan, its model and what it will cost."""

    plan: list[dict[str, Any]]
    settings: dict[str, Any]
    seed: int | None
    provider: str
    model: str
    hosted: hosted.HostedPlan
    scene_images: dict[int, Any]
    reference_image: Any


def review_plan(request: GenerationRequest) -> PlanReview:
    """Validate a request's plan against its model without writing anything: images decodable
    and within limits, the model's required inputs fillable, the cost estimated and under the
    cap."""
    scenes, raw_images = hosted.split_images(request.scenes)
    results = _validated(
        scenes=scenes,
        render_settings=request.coherence_settings,
        seed=request.seed,
        provider=request.provider,
        model=request.model,
        title=request.title,
    )
    plan, merged = results["plan"], results["settings"]
    provider, model = results["model"]
    spec = get_model(model)
    _check_continuity(spec, plan, merged)
    scene_images, reference = hosted.read_images(raw_images, request.reference_image)
    settled = hosted.settle_plan(
        spec=spec,
        plan=plan,
        merged_settings=merged,
        scene_images=scene_images,
        has_reference=reference is not None,
    )
    return PlanReview(
        plan, merged, results["seed"], provider, model, settled, scene_images, reference
    )


def validate_quality(quality: Any) -> str:
    if quality not in Generation.Quality.values:
        raise ValidationError(
            {"quality": f"Quality must be one of: {', '.join(Generation.Quality.values)}."}
        )
    return str(quality)


def preview_plan(
    spec: Any, plan: list[dict[str, Any]], *, width: int, height: int
) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """The plan at the model's cheapest settings; each scene keeps its planned duration."""
    durations = cheapest_settings.preview_durations(
        spec,
        [scene["duration"] for scene in plan],
        min_seconds=config.MIN_SCENE_SECONDS,
        fps=config.VIDEO_FPS,
    )
    shaped = [
        {**scene, "duration": seconds, "planned_duration": scene["duration"]}
        for scene, seconds in zip(plan, durations, strict=True)
    ]
    return shaped, cheapest_settings.preview_size(spec, width, height, scale=config.PREVIEW_SCALE)
