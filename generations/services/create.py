"""Write-side business logic for generations. Views, serializers, admin and commands call these."""

from __future__ import annotations

import hashlib
import json
import numbers
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from coherence_project.conf import config
from generations.lifecycle import complete, failure
from generations.lifecycle.engine import get_model, get_provider
from generations.lifecycle.queue import enqueue_advance, enqueue_start_generation
from generations.media import storage
from generations.models import SEED_MAX, Generation, IdempotencyKey, Scene
from generations.selectors import find_generation, generation_with_video, idempotency_record
from generations.services import hosted_models as hosted
from generations.services import limits as caps
from generations.services.render_settings import merge_coherence_settings
from generations.webhooks_out import events as webhook_events
from pipeline import media, planning, previews
from pipeline.compare import NOT_COMPARED, ClipComparison, compare_videos
from pipeline.providers.base import ProviderError
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
    *, scenes: Any, coherence_settings: Any, seed: Any, provider: Any, model: Any, title: Any
) -> dict[str, Any]:
    """Every request-level check, with all their errors in one ValidationError."""
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


def review_plan(
    *,
    scenes: Any,
    title: str = "",
    coherence_settings: Any = None,
    provider: str | None = None,
    model: str | None = None,
    seed: Any = None,
    reference_image: Any = None,
) -> PlanReview:
    """Validate a plan against its model without writing anything: images decodable and within
    limits, the model's required inputs fillable, the cost estimated and under the cap."""
    scenes, raw_images = hosted.split_images(scenes)
    results = _validated(
        scenes=scenes,
        coherence_settings=coherence_settings,
        seed=seed,
        provider=provider,
        model=model,
        title=title,
    )
    plan, merged = results["plan"], results["settings"]
    provider, model = results["model"]
    spec = get_model(model)
    _check_continuity(spec, plan, merged)
    scene_images, reference = hosted.read_images(raw_images, reference_image)
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


def create_generation(
    *,
    scenes: Any,
    title: str = "",
    coherence_settings: Any = None,
    provider: str | None = None,
    model: str | None = None,
    model_version: str = "",
    seed: Any = None,
    reference_image: Any = None,
    owner: Any = None,
    source_generation: Generation | None = None,
    quality: Any = Generation.Quality.FULL,
    enqueue: bool = True,
    actor: Any = None,
    webhook: Any = None,
    webhook_events_filter: Any = None,
) -> Generation:
    """Validate and store a Generation with its Scenes, then enqueue its start after commit.

    ``webhook`` (an https URL) hears the generation's events (``webhook_events_filter``, default
    all: started, scene_completed, completed), signed with the owner's secret
    (generations.webhooks_out).

    ``quality="preview"`` stores the plan at the model's cheapest settings (``preview_plan``).

    All validation (``review_plan``) happens before the first write, and the writes are atomic:
    a bad plan leaves the database unchanged and no prediction is ever created for it.
    ``model_version`` is a record only (what a source generation's predictions reported); it is
    never sent to a provider. ``actor`` is who asks (default: the owner); it needs the
    hosted-models permission for any provider but the local model. The owner's active cap is
    checked last, inside the insert's transaction (see ``caps.check_active_limit``).
    """
    quality = validate_quality(quality)
    subscription = webhook_events.subscription(
        owner=owner, webhook=webhook, events_filter=webhook_events_filter
    )
    review = review_plan(
        scenes=scenes,
        title=title,
        coherence_settings=coherence_settings,
        provider=provider,
        model=model,
        seed=seed,
        reference_image=reference_image,
    )
    shape = _shape(review, quality)
    caps.check_provider_allowed(
        actor=actor if actor is not None else owner, provider=review.provider
    )
    with transaction.atomic():
        caps.check_active_limit(owner=owner)
        generation = _store_generation(
            review,
            shape,
            owner=owner,
            title=title,
            model_version=model_version,
            source_generation=source_generation,
            quality=quality,
            subscription=subscription,
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    return generation


def _store_generation(
    review: PlanReview,
    shape: _Shape,
    *,
    owner: Any,
    title: str,
    model_version: str,
    source_generation: Generation | None,
    quality: str,
    subscription: tuple[str, list[str]] = ("", []),
) -> Generation:
    """Write the reviewed plan: the Generation, its Scenes and their start images (call it in
    the caller's transaction, after every check)."""
    generation = Generation(
        owner=owner,
        title=title,
        coherence_settings=review.settings,
        seed_value=review.seed,
        provider=review.provider,
        model=review.model,
        model_version=model_version or "",
        width=shape.width,
        height=shape.height,
        fps=config.VIDEO_FPS,
        source_generation=source_generation,
        quality=quality,
        estimated_cost=shape.estimated_cost,
        warnings=list(review.hosted.warnings),
        webhook=subscription[0],
        webhook_events_filter=subscription[1],
    )
    rows = [
        Scene(generation=generation, index=index, **scene) for index, scene in enumerate(shape.plan)
    ]
    hosted.store_images(generation, rows, review.scene_images, review.reference_image)
    generation.save(force_insert=True)
    Scene.objects.bulk_create(rows)
    return generation


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
    durations = previews.preview_durations(
        spec,
        [scene["duration"] for scene in plan],
        min_seconds=config.MIN_SCENE_SECONDS,
        fps=config.VIDEO_FPS,
    )
    shaped = [
        {**scene, "duration": seconds, "planned_duration": scene["duration"]}
        for scene, seconds in zip(plan, durations, strict=True)
    ]
    return shaped, previews.preview_size(spec, width, height, scale=config.PREVIEW_SCALE)


@dataclass(frozen=True)
class _Shape:
    """The plan as it will be stored: at full quality, or shortened and smaller as a preview."""

    plan: list[dict[str, Any]]
    width: int
    height: int
    estimated_cost: Any


def _shape(review: PlanReview, quality: str) -> _Shape:
    width, height = config.VIDEO_WIDTH, config.VIDEO_HEIGHT
    if quality != Generation.Quality.PREVIEW:
        return _Shape(review.plan, width, height, review.hosted.estimate.total)
    spec = get_model(review.model)
    plan, (width, height) = preview_plan(spec, review.plan, width=width, height=height)
    estimate = planning.estimate_cost(
        spec, [s["duration"] for s in plan], width=width, height=height, fps=config.VIDEO_FPS
    )
    return _Shape(plan, width, height, estimate.total)


def _stored_bytes(file: Any) -> bytes | None:
    if not file:
        return None
    with file.open("rb") as fh:
        return fh.read()


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
            item["image"] = _stored_bytes(scene.image)
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
        reference_image=_stored_bytes(source.reference_image),
        owner=owner if owner is not None else source.owner,
        source_generation=source,
        quality=source.quality,
        enqueue=enqueue,
        actor=actor,
    )


# --- API helpers: idempotent create, cancel, provider webhooks ----------------------------------


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request: refused, nothing is created."""


def _fingerprint_value(value: Any) -> str:
    # Uploaded images arrive as bytes: the same key with another image is another request.
    if isinstance(value, bytes | bytearray):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return str(value)


def _request_fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), default=_fingerprint_value
    )
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
    *, owner: Any, idempotency_key: str, creator: Any = None, **fields: Any
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
    create = creator or create_generation  # e.g. generations.iterate's create_with_variations
    try:
        with transaction.atomic():
            generation = create(owner=owner, **fields)
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
    """Cancel an unfinished generation (in-flight predictions too); False if it had ended.

    A generation awaiting the choice of a seed variation takes its unfinished variations with it:
    nobody will choose them any more, so they must not go on rendering (and billing)."""
    canceled = failure.stop_generation(generation_id=generation.pk)
    if canceled:
        for variation_id in generation.variations.exclude(
            status__in=Generation.TERMINAL
        ).values_list("pk", flat=True):
            failure.stop_generation(generation_id=variation_id)
    return canceled


def delete_generation(*, generation: Generation) -> None:
    """Delete a generation and its scenes; generations.media.cleanup removes their files once the
    deletion has committed (never before: a rolled-back delete must find its files in place)."""
    with transaction.atomic():
        generation.delete()


def receive_replicate_webhook(*, webhook_id: str, payload: dict[str, Any]) -> str:
    """Apply a verified Replicate webhook once and queue whatever comes next.

    Returns what happened: "queued", "duplicate", "unknown prediction" or "ignored".
    """
    kind, scene_id = complete.receive_prediction_webhook(
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
        scenes=scenes,
        title=title if title is not None else recipe.get("title") or "",
        coherence_settings=recipe.get("coherence_settings"),
        provider=recipe.get("provider"),
        model=recipe.get("model"),
        model_version=model_version,
        seed=recipe.get("seed") if seed is KEEP_SEED else seed,
        owner=owner,
        source_generation=source_generation,
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


# --- did a regeneration reproduce its source? -------------------------------------------------


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
