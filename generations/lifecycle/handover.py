"""The hand-over: how a scene starts, above all how a continuous scene starts from its predecessor.

One ladder, best first, chosen per scene from what the model can take and what the predecessor
left (``Scene.HandoverMethod`` names each rung):

- ``latent``: the predecessor's stored final latent, with no decode/encode round trip (the local
  model, diffusers models), when it was rendered by this model at this size;
- ``clip``: the predecessor's clip, on a hosted model whose stored live schema declares a
  clip-continuation input (``ModelSpec.continues_clip``), when the clip's length fits it;
- ``first_frame``: the predecessor's last frame as the model's first-frame image;
- none: a chain head (or latent reuse off) starts from its own image, the generation's reference
  image, or nothing.

A rung passed over is recorded with the reason (``fallback`` in the recipe's ``handover``); a
continuous scene whose predecessor left nothing usable fails with a clear error rather than
rendering without conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generations.lifecycle.engine import get_model
from generations.media import storage
from generations.models import Generation, Scene
from pipeline import media
from pipeline.providers.registry import ModelSpec

Method = Scene.HandoverMethod


class HandoverUnavailable(Exception):
    """A continuous scene's predecessor left nothing this model can start from."""


@dataclass(frozen=True)
class Handover:
    """What a scene starts from, and how its recipe records it."""

    request_fields: dict[str, Any]  # init_latent_path | init_clip_path | init_image_path
    method: str = Method.NONE
    predecessor: Scene | None = None  # the scene it starts from, under a hand-over
    fallback: str = ""  # why a better rung was passed over
    image_origin: str | None = None  # "scene" | "reference": a chain head's given start image
    image_sha256: str = ""

    @property
    def path(self) -> Path | None:
        return next(iter(self.request_fields.values()), None)

    def sha256(self) -> str | None:
        """sha256 of exactly what the scene is handed (None without a hand-over)."""
        return media.sha256_file(self.path) if self.method and self.path else None

    def recipe(self) -> dict[str, Any]:
        # The recipe's keys stay as stored rows and embedded videos spell them ("source_scene").
        return {
            "method": self.method or None,
            "source_scene": self.predecessor.index if self.predecessor else None,
            "sha256": self.sha256(),
            "fallback": self.fallback or None,
        }


def latent_unusable(generation: Generation, predecessor: Scene) -> str:
    """Why the predecessor's final latent cannot seed this generation's scene ("" if it can):
    it is missing, or was rendered by another model or at another size (a latent only fits the
    model and the latent grid that made it)."""
    if not predecessor.final_latent:
        return f"scene {predecessor.number} has no final latent"
    made = predecessor.recipe or {}
    model = made.get("model")
    if model and model != generation.model:
        return f"scene {predecessor.number} was rendered by {model}"
    size = (made.get("width"), made.get("height"))
    if made.get("width") and size != (generation.width, generation.height):
        return f"scene {predecessor.number} was rendered at {size[0]}x{size[1]}"
    return ""


def _clip_seconds(generation: Generation, predecessor: Scene) -> float:
    if predecessor.frame_count:
        return predecessor.frame_count / generation.fps
    return predecessor.duration


def choose_method(
    generation: Generation, predecessor: Scene, spec: ModelSpec, schema: Any
) -> tuple[str, str]:
    """The best rung this model takes and the predecessor allows, and why better ones were
    passed over. ``schema``: the model's stored live Input component, or None."""
    passed_over: list[str] = []
    if spec.accepts_latent:
        why = latent_unusable(generation, predecessor)
        if not why:
            return Method.LATENT, ""
        passed_over.append(f"latent: {why}")
    if spec.continues_clip(schema):
        seconds = _clip_seconds(generation, predecessor)
        if predecessor.clip and spec.clip_fits(seconds):
            return Method.CLIP, "; ".join(passed_over)
        passed_over.append(
            f"clip: scene {predecessor.number}'s clip ({seconds:.2f} s) does not fit"
        )
    if spec.first_frame_input and predecessor.last_frame:
        return Method.FIRST_FRAME, "; ".join(passed_over)
    raise HandoverUnavailable(
        f"Scene {predecessor.number + 1} continues scene {predecessor.number}, which left nothing "
        f"{spec.name} can start from ({'; '.join(passed_over) or 'its last frame is missing'}); "
        "refusing to render it without conditioning."
    )


_DOWNLOADS = {
    Method.LATENT: ("final_latent", "init_latent_path", "init.latent.npy"),
    Method.CLIP: ("clip", "init_clip_path", "init.mp4"),
    Method.FIRST_FRAME: ("last_frame", "init_image_path", "init.png"),
}


def _from_predecessor(
    generation: Generation, predecessor: Scene, schema: Any, work_dir: Path
) -> Handover:
    method, fallback = choose_method(generation, predecessor, get_model(generation.model), schema)
    field, request_field, filename = _DOWNLOADS[method]
    path = storage.download(getattr(predecessor, field), work_dir / filename)
    return Handover({request_field: path}, method, predecessor, fallback)


def plan_handover(
    generation: Generation, scene: Scene, predecessor: Scene | None, schema: Any, work_dir: Path
) -> Handover:
    """What ``scene`` starts from, downloaded into ``work_dir`` for the provider: its
    predecessor's end (under latent reuse), else the scene's own start image, else
    the generation's reference image, else nothing."""
    if predecessor is not None and generation.latent_reuse:
        return _from_predecessor(generation, predecessor, schema, work_dir)
    for origin, file, digest in (
        ("scene", scene.image, scene.image_sha256),
        ("reference", generation.reference_image, generation.reference_image_sha256),
    ):
        if file:
            local = work_dir / f"start-{origin}{Path(file.name).suffix}"
            fields = {"init_image_path": storage.download(file, local)}
            return Handover(fields, image_origin=origin, image_sha256=digest)
    return Handover({})
