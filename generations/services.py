"""Write-side business logic for generations. Views, serializers, admin and commands call these."""

from __future__ import annotations

import hashlib
import json
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from coherence_project.conf import config
from generations import caps, orchestration
from generations.coherence_settings import merge_coherence_settings
from generations.models import SEED_MAX, Generation, IdempotencyKey, Scene
from generations.queue import enqueue_advance, enqueue_start_generation
from generations.selectors import find_generation, idempotency_record
from pipeline import media
from pipeline.providers import get_provider
from pipeline.providers.base import ProviderError
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
    if len(scenes) > config.MAX_SCENES:
        raise ValidationError({"scenes": f"A plan has at most {config.MAX_SCENES} scenes."})
    low, high = config.MIN_SCENE_SECONDS, config.MAX_SCENE_SECONDS
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
        # Compared without float(): a JSON integer too big for a float must not crash the check.
        elif not low <= duration <= high:
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
    actor: Any = None,
) -> Generation:
    """Validate and store a Generation with its Scenes, then enqueue its start after commit.

    All validation happens before the first write, and the writes are atomic: a bad plan leaves the
    database unchanged. ``actor`` is who asks (default: the owner); it needs the hosted-models
    permission for any provider but the local model. The owner's active cap is checked last.
    """
    errors: dict[str, Any] = {}
    results: dict[str, Any] = {}
    checks = {
        "plan": lambda: caps.check_plan_limits(validate_plan(scenes)),
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
    caps.check_provider_allowed(actor=actor if actor is not None else owner, provider=provider)
    spec = get_model(model)
    if merged["latent_reuse"] and not spec.can_continue and any(s["continuous"] for s in plan):
        raise ValidationError(
            {
                "model": f"Model {model!r} has no first-frame image input, so it cannot continue a "
                "scene; turn latent_reuse off or mark no scene continuous."
            }
        )

    with transaction.atomic():
        caps.check_active_limit(owner=owner)
        generation = Generation.objects.create(
            owner=owner,
            title=title,
            coherence_settings=merged,
            seed_value=seed_value,
            provider=provider,
            model=model,
            model_version=model_version or "",
            width=config.VIDEO_WIDTH,
            height=config.VIDEO_HEIGHT,
            fps=config.VIDEO_FPS,
            source_generation=source_generation,
        )
        Scene.objects.bulk_create(
            Scene(generation=generation, index=index, **scene) for index, scene in enumerate(plan)
        )
        if enqueue:
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
    actor: Any = None,
) -> Generation:
    """A new generation with the source's plan, settings, model version and (by default) seed.

    ``seed=None`` draws a fresh seed (when seed control is on); an int overrides it. ``actor`` is
    who asks (see ``create_generation``).
    """
    settings_ = dict(source.coherence_settings)
    if seed is KEEP_SEED:
        if source.seed_control and source.seed_value is None:
            raise ValidationError(
                {
                    "seed": "The source generation has no seed yet (it has not started), so there "
                    "is no seed to keep; give a seed, or null for a fresh one."
                }
            )
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
        actor=actor,
    )


# --- API helpers: idempotent create, cancel, provider webhooks ----------------------------------


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request: refused, nothing is created."""


def _request_fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _replayed_generation(*, owner: Any, key: str, fingerprint: str) -> Generation | None:
    record = idempotency_record(owner=owner, key=key)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new generation."
        )
    return record.generation


def create_generation_idempotent(
    *, owner: Any, idempotency_key: str, **fields: Any
) -> tuple[Generation, bool]:
    """``create_generation`` once per (owner, key): a retry with the same fields returns the first
    generation and ``False`` instead of creating a second one.

    Race-safe: the key row is inserted in the same transaction as the generation, so when two
    requests race, the unique constraint lets one commit and rolls the other back whole (its
    generation, scenes and on-commit enqueue included); the loser answers with the winner's
    generation. Raises IdempotencyKeyReused when the key was used with different fields.
    """
    fingerprint = _request_fingerprint(fields)
    replayed = _replayed_generation(owner=owner, key=idempotency_key, fingerprint=fingerprint)
    if replayed is not None:
        return replayed, False
    try:
        with transaction.atomic():
            generation = create_generation(owner=owner, **fields)
            IdempotencyKey.objects.create(
                owner=owner, key=idempotency_key, request_hash=fingerprint, generation=generation
            )
    except IntegrityError:
        replayed = _replayed_generation(owner=owner, key=idempotency_key, fingerprint=fingerprint)
        if replayed is None:
            raise
        return replayed, False
    return generation, True


def cancel_generation(*, generation: Generation) -> bool:
    """Cancel an unfinished generation (in-flight predictions too); False if it had ended."""
    return orchestration.cancel_generation(generation_id=generation.pk)


def delete_generation(*, generation: Generation) -> None:
    """Delete a generation and its scenes; generations.media_cleanup removes their files once the
    deletion has committed (never before: a rolled-back delete must find its files in place)."""
    with transaction.atomic():
        generation.delete()


def receive_replicate_webhook(*, webhook_id: str, payload: dict[str, Any]) -> str:
    """Apply a verified Replicate webhook once and queue whatever comes next.

    Returns what happened: "queued", "duplicate", "unknown prediction" or "ignored".
    """
    kind, scene_id = orchestration.receive_prediction_webhook(
        webhook_id=webhook_id, payload=payload
    )
    if kind == "queued" and scene_id is not None:
        try:
            state = get_provider(REPLICATE_PROVIDER).state_from_webhook(payload)
        except ProviderError:
            return "ignored"
        enqueue_advance(scene_id, state)
    return kind


# --- replaying a recipe embedded in a final video ---------------------------------------------


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
) -> Generation:
    """A new generation from an embedded recipe: no database source is needed, but the new
    generation is linked to the recipe's generation when that still exists."""
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
        scenes=scenes,
        title=title if title is not None else recipe.get("title") or "",
        coherence_settings=recipe.get("coherence_settings"),
        provider=recipe.get("provider"),
        model=recipe.get("model"),
        model_version=model_version,
        seed=recipe.get("seed") if seed is KEEP_SEED else seed,
        owner=owner,
        source_generation=find_generation(str(recipe.get("generation") or "")),
        enqueue=enqueue,
        actor=actor,
    )


# --- did a regeneration reproduce its source? -------------------------------------------------

IDENTICAL = "identical"
SIMILAR = "similar"
DIFFERENT = "different"
NOT_COMPARED = "not compared"
# Two clips are "similar" when every sampled frame pair has an SSIM of at least this. Codec noise
# alone (re-encoding the same frames) stays above it (~0.97 even at 128x72); another seed's palette
# and texture fall far below it (~0.45). docs/staff.md explains the verdicts.
SIMILAR_MIN_SSIM = 0.95
COMPARE_SAMPLES = 8


@dataclass(frozen=True)
class ClipComparison:
    label: str
    verdict: str
    bytes_equal: bool = False
    frames_equal: bool = False
    min_ssim: float | None = None
    mean_ssim: float | None = None
    note: str = ""


def compare_videos(
    original: Path, regenerated: Path, *, label: str, samples: int = COMPARE_SAMPLES
) -> ClipComparison:
    """Compare two videos: byte equality, exact equality of sampled frames, and their SSIM."""
    try:
        if media.sha256_file(original) == media.sha256_file(regenerated):
            return ClipComparison(label, IDENTICAL, True, True, 1.0, 1.0)
        info_a, info_b = media.probe(original), media.probe(regenerated)
        if (info_a.width, info_a.height) != (info_b.width, info_b.height):
            return ClipComparison(
                label,
                DIFFERENT,
                note=f"sizes differ: {info_a.width}x{info_a.height} vs "
                f"{info_b.width}x{info_b.height}",
            )
        frames_a = media.sample_frames(original, samples)
        frames_b = media.sample_frames(regenerated, samples)
    except media.MediaError as exc:
        return ClipComparison(label, NOT_COMPARED, note=str(exc))
    same_length = info_a.frame_count == info_b.frame_count
    frames_equal = same_length and all(
        np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True)
    )
    scores = [media.ssim(a, b) for a, b in zip(frames_a, frames_b, strict=True)]
    low, mean = min(scores), sum(scores) / len(scores)
    if frames_equal:
        verdict = IDENTICAL
    elif low >= SIMILAR_MIN_SSIM:
        verdict = SIMILAR
    else:
        verdict = DIFFERENT
    note = (
        "" if same_length else f"frame counts differ: {info_a.frame_count} vs {info_b.frame_count}"
    )
    return ClipComparison(label, verdict, False, frames_equal, low, mean, note)


def compare_regeneration(*, original: Generation, regenerated: Generation) -> list[ClipComparison]:
    """Each regenerated scene against the original scene of the same index, then the final
    videos (whose bytes always differ: the embedded recipe names the generation)."""
    media_root = Path(settings.MEDIA_ROOT)
    originals = {scene.index: scene for scene in original.scenes.all()}
    comparisons = []
    for scene in regenerated.scenes.order_by("index"):
        label = f"scene {scene.number}"
        source = originals.get(scene.index)
        if source is None or not source.clip or not scene.clip:
            missing = "regenerated" if source is not None and source.clip else "original"
            comparisons.append(
                ClipComparison(label, NOT_COMPARED, note=f"the {missing} scene has no clip")
            )
            continue
        comparisons.append(
            compare_videos(media_root / source.clip.name, media_root / scene.clip.name, label=label)
        )
    if original.video and regenerated.video:
        comparisons.append(
            compare_videos(
                media_root / original.video.name,
                media_root / regenerated.video.name,
                label="final video",
            )
        )
    return comparisons
