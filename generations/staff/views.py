"""The staff generation page: the final video, scenes on a timeline, seed, recipe, coherence."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from generations.iterate.variations import variation_cards
from generations.media.links import video_url
from generations.models import Generation, Scene
from generations.selectors import (
    continuity_by_boundary,
    generation_recipe,
    generations_visible_to,
)
from pipeline.coherence.drawing import render_report_svg


@dataclass(frozen=True)
class TimelineScene:
    scene: Scene
    width_percent: float  # of the whole timeline, proportional to the scene's duration
    # The boundary that leads into this scene (None for the first): "continuous" or "cut", and
    # the continuity the coherence report measured there.
    boundary_kind: str | None
    boundary_continuity: float | None
    # Planned continuous but the coherence report saw a cut there.
    failed_handover: bool = False


def build_timeline(generation: Generation, scenes: list[Scene]) -> list[TimelineScene]:
    total = sum(scene.duration for scene in scenes) or 1.0
    boundaries = continuity_by_boundary(generation)
    timeline = []
    for scene in scenes:
        boundary = boundaries.get(scene.index)
        timeline.append(
            TimelineScene(
                scene=scene,
                width_percent=round(100 * scene.duration / total, 3),
                boundary_kind=None
                if scene.index == 0
                else ("continuous" if scene.continuous else "cut"),
                boundary_continuity=boundary["continuity"] if boundary else None,
                failed_handover=bool(boundary and boundary.get("failed_handover")),
            )
        )
    return timeline


def _staff_generation(request: HttpRequest, generation_id: uuid.UUID) -> Generation:
    generation = generations_visible_to(request.user).filter(pk=generation_id).first()
    if generation is None:
        raise Http404("No such generation.")
    return generation


def progress_payload(generation: Generation) -> dict[str, Any]:
    return {
        "id": str(generation.pk),
        "status": generation.status,
        "stage": generation.stage,
        "progress": generation.progress,
        "terminal": generation.is_terminal,
        "seed": generation.seed,
        "video": video_url(generation),
        "error": generation.error,
    }


@require_GET
@staff_member_required
def generation_detail(request: HttpRequest, generation_id: uuid.UUID) -> HttpResponse:
    generation = _staff_generation(request, generation_id)
    scenes = list(generation.scenes.select_related("handover_from").order_by("index"))
    report = generation.coherence_report
    context = {
        "generation": generation,
        "timeline": build_timeline(generation, scenes),
        "recipe_json": json.dumps(generation_recipe(generation), indent=2),
        "report": report,
        "report_svg": render_report_svg(report) if report else "",
        "admin_url": reverse("admin:generations_generation_change", args=[generation.pk]),
        "progress_url": reverse("generations:progress", args=[generation.pk]),
        "variation_cards": variation_cards(generation),
        "variation_parent": generation,
    }
    return render(request, "generations/generation_detail.html", context)


@require_GET
@staff_member_required
def generation_progress(request: HttpRequest, generation_id: uuid.UUID) -> JsonResponse:
    return JsonResponse(progress_payload(_staff_generation(request, generation_id)))
