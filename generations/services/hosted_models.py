"""Settling a plan against its model before money is spent: images, required inputs, cost, seed.

``create_generation`` calls these after the plan itself is valid and before anything is written:
a plan that would leave a model's required input empty, or cost more than
``COHERENCE_MAX_COST_USD``, is refused with a 400 that names the scene and the field, and no
prediction can ever be created for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from coherence_project.conf import config
from generations.models import Generation, HostedModelSchema, Scene
from generations.selectors import stored_schema
from pipeline import images
from pipeline.planning import CostEstimate, PlannedScene, estimate_cost, plan_problems
from pipeline.providers.registry import REPLICATE_PROVIDER, ModelSpec
from pipeline.providers.schema import (
    InputSchema,
    seed_warning,
    seedless_reason,
    takes_seed,
)

# --- images -------------------------------------------------------------------------------------


def _read_path(path: Path) -> bytes:
    try:
        if path.stat().st_size > images.MAX_IMAGE_BYTES:
            raise images.ImageError("The image is larger than 10 MB.")
        return path.read_bytes()
    except OSError as exc:
        raise images.ImageError(f"Cannot read {path}: {exc.strerror}.") from None


def read_image(value: Any, *, field_name: str) -> images.CheckedImage:
    """An uploaded file, raw bytes, a base64 data URI or an https URL, validated; a
    ValidationError on ``field_name`` otherwise."""
    try:
        if isinstance(value, bytes | bytearray):
            data = bytes(value)
        elif isinstance(value, Path):
            data = _read_path(value)
        elif hasattr(value, "read"):
            if getattr(value, "size", 0) > images.MAX_IMAGE_BYTES:
                raise images.ImageError("The image is larger than 10 MB.")
            data = value.read(images.MAX_IMAGE_BYTES + 1)
        elif isinstance(value, str) and value.startswith("data:"):
            data = images.decode_data_uri(value)
        elif isinstance(value, str) and value.lower().startswith(("https://", "http://")):
            data = images.fetch_image(value)
        else:
            raise images.ImageError(
                "Give an image as a file upload, a base64 data URI or an https URL."
            )
        return images.check_image(data)
    except images.ImageError as exc:
        raise ValidationError({field_name: str(exc)}) from None


def split_images(scenes: Any) -> tuple[Any, dict[int, Any]]:
    """The plan without its scenes' ``image`` values, and those values by scene index."""
    if not isinstance(scenes, list):
        return scenes, {}
    found: dict[int, Any] = {}
    stripped = []
    for index, scene in enumerate(scenes):
        if isinstance(scene, dict) and scene.get("image") not in (None, ""):
            found[index] = scene["image"]
        stripped.append(
            {k: v for k, v in scene.items() if k != "image"} if isinstance(scene, dict) else scene
        )
    return stripped, found


def read_images(
    scene_images: dict[int, Any], reference: Any
) -> tuple[dict[int, images.CheckedImage], images.CheckedImage | None]:
    """Every given image validated; one ValidationError listing every bad one."""
    errors: dict[str, Any] = {}
    checked: dict[int, images.CheckedImage] = {}
    for index, value in scene_images.items():
        try:
            checked[index] = read_image(value, field_name=f"scenes.{index}.image")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    ref = None
    if reference not in (None, ""):
        try:
            ref = read_image(reference, field_name="reference_image")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return checked, ref


# --- the plan on its model ----------------------------------------------------------------------


@dataclass(frozen=True)
class HostedPlan:
    estimate: CostEstimate
    warnings: list[str] = field(default_factory=list)


def _cost_cap_error(total: Decimal) -> ValidationError:
    cap = Decimal(str(config.MAX_COST_USD))
    return ValidationError(
        {
            "cost": f"The estimated cost is ${total:.2f}, above the cap of ${cap:.2f} per "
            "generation (COHERENCE_MAX_COST_USD); shorten the plan or raise the cap."
        }
    )


def settle_plan(
    *,
    spec: ModelSpec,
    plan: list[dict[str, Any]],
    merged_settings: dict[str, Any],
    scene_images: dict[int, Any],
    has_reference: bool,
) -> HostedPlan:
    """Refuse a plan its model cannot run or that costs too much; say what it will cost."""
    schema = stored_schema(spec.name) if spec.provider == REPLICATE_PROVIDER else None
    planned = [
        PlannedScene(i, s["duration"], s["continuous"], i in scene_images)
        for i, s in enumerate(plan)
    ]
    problems = plan_problems(
        spec,
        schema,
        planned,
        latent_reuse=merged_settings["latent_reuse"],
        has_reference=has_reference,
    )
    if problems:
        raise ValidationError(problems)
    estimate = estimate_cost(
        spec,
        [s["duration"] for s in plan],
        width=config.VIDEO_WIDTH,
        height=config.VIDEO_HEIGHT,
        fps=config.VIDEO_FPS,
    )
    if estimate.total is not None and estimate.total > Decimal(str(config.MAX_COST_USD)):
        raise _cost_cap_error(estimate.total)
    warnings = []
    if merged_settings["seed_control"] and not takes_seed(spec, schema):
        warnings.append(seed_warning(seedless_reason(spec, schema)))
    return HostedPlan(estimate, warnings)


def store_images(
    generation: Generation,
    scenes: list[Scene],
    scene_images: dict[int, images.CheckedImage],
    reference: images.CheckedImage | None,
) -> None:
    """Write the given images next to the generation, recording their sha256 (before the rows
    are inserted: ``scenes`` are unsaved)."""
    if reference is not None:
        generation.reference_image.save(
            f"reference.{reference.extension}", ContentFile(reference.data), save=False
        )
        generation.reference_image_sha256 = reference.sha256
    for scene in scenes:
        image = scene_images.get(scene.index)
        if image is not None:
            name = f"scene-{scene.number:02d}.start.{image.extension}"
            scene.image.save(name, ContentFile(image.data), save=False)
            scene.image_sha256 = image.sha256


# --- live schemas ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaSync:
    model: str
    fingerprint: str = ""
    disagreements: tuple[str, ...] = ()
    error: str = ""  # the model's schema could not be fetched or read

    @property
    def ok(self) -> bool:
        return not self.error and not self.disagreements


def sync_schema(*, spec: ModelSpec, provider: Any) -> SchemaSync:
    """Fetch one hosted model's live input schema, store it, and compare it with the registry."""
    from django.utils import timezone

    from pipeline.providers.base import ProviderError
    from pipeline.providers.schema import SchemaError, disagreements

    try:
        version_id, openapi = provider.fetch_model_schema(spec.name)
        schema = InputSchema.from_openapi(openapi)
    except (ProviderError, SchemaError) as exc:
        return SchemaSync(spec.name, error=str(exc))
    found = disagreements(spec, schema)
    HostedModelSchema.objects.update_or_create(
        model=spec.name,
        defaults={
            "input_schema": schema.component,
            "fingerprint": schema.fingerprint,
            "latest_version_id": version_id,
            "disagreements": found,
            "fetched_at": timezone.now(),
        },
    )
    return SchemaSync(spec.name, schema.fingerprint, tuple(found))
