"""What a plan will need and cost on a model, settled before anything is created or paid for.

Plain Python on plain data: the lifecycle passes the plan, the model's registry entry and its
stored live schema (or None), and gets back what is missing and what it will cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pipeline.providers.registry import ModelSpec
from pipeline.providers.schema import InputSchema, needs_start_image, unfillable_inputs

PREVIOUS = "previous"  # the predecessor's last frame / final latent (latent reuse)
OWN = "scene"  # the scene's own start image
REFERENCE = "reference"  # the generation's reference image


@dataclass(frozen=True)
class PlannedScene:
    index: int
    duration: float
    continuous: bool
    has_image: bool = False


def start_image_origin(
    scene: PlannedScene, *, latent_reuse: bool, has_reference: bool
) -> str | None:
    """Where a scene's first frame comes from: its predecessor (a continuous scene under latent
    reuse), its own image, the generation's reference image, or nowhere."""
    if scene.continuous and latent_reuse:
        return PREVIOUS
    if scene.has_image:
        return OWN
    return REFERENCE if has_reference else None


def plan_problems(
    spec: ModelSpec,
    schema: InputSchema | None,
    scenes: list[PlannedScene],
    *,
    latent_reuse: bool,
    has_reference: bool,
) -> dict[str, str]:
    """Errors keyed like the API's (``model``, ``scenes.N.image``); empty: runnable."""
    unfillable = unfillable_inputs(spec, schema)
    if unfillable:
        return {
            "model": f"Model {spec.name} requires {', '.join(unfillable)}, which Coherence cannot "
            "fill; pick another model."
        }
    frame_input = spec.first_frame_input
    if frame_input is None and (has_reference or any(s.has_image for s in scenes)):
        return {"model": f"Model {spec.name} takes no start image; remove the images."}
    if not needs_start_image(spec, schema):
        return {}
    errors = {}
    for scene in scenes:
        if start_image_origin(scene, latent_reuse=latent_reuse, has_reference=has_reference):
            continue
        errors[f"scenes.{scene.index}.image"] = (
            f"Scene {scene.index + 1}: model {spec.name} requires {frame_input!r} (a start image); "
            "give this scene an image or the generation a reference_image."
        )
    return errors


@dataclass(frozen=True)
class CostEstimate:
    per_scene: tuple[Decimal | None, ...]
    currency: str = "USD"

    @property
    def known(self) -> bool:
        return all(cost is not None for cost in self.per_scene)

    @property
    def total(self) -> Decimal | None:
        """The sum, or None when any scene's price is unknown."""
        if not self.known:
            return None
        return sum((cost for cost in self.per_scene if cost is not None), Decimal(0))


def estimate_cost(
    spec: ModelSpec, durations: list[float], *, width: int, height: int, fps: int
) -> CostEstimate:
    """What the plan will be billed: each scene at the length the model will really render
    (snapped durations, frame counts, fixed lengths) and the resolution it will be asked for."""
    return CostEstimate(
        tuple(
            spec.estimate_scene_cost(seconds, width=width, height=height, fps=fps)
            for seconds in durations
        )
    )
