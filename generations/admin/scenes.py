"""A generation's scenes, inline on its admin page: seeds sent and applied, hand-over, recipe."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from generations.admin.displays import NOTHING, pretty_json, video_player
from generations.media.links import scene_file_url
from generations.models import Scene


class SceneInline(admin.TabularInline):
    model = Scene
    extra = 0
    can_delete = False
    show_change_link = False
    fields = (
        "number",
        "prompt",
        "duration",
        "continuous",
        "status",
        "seed_sent",
        "seed_applied_flag",
        "latent_reuse",
        "render",
        "prediction_id",
        "clip_player",
        "recipe_pretty",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scene]:
        return super().get_queryset(request).select_related("handover_from")

    @admin.display(description="#")
    def number(self, scene: Scene) -> int:
        return scene.number

    @admin.display(description="seed sent")
    def seed_sent(self, scene: Scene) -> str:
        return NOTHING if scene.seed is None else str(scene.seed)

    @admin.display(description="seed applied")
    def seed_applied_flag(self, scene: Scene) -> SafeString | str:
        if scene.seed_applied is None:
            return NOTHING if scene.seed is None else "pending"
        if scene.seed_applied:
            return mark_safe('<span class="coherence-ok">✔ applied</span>')
        return format_html(
            '<span class="coherence-flag">✘ NOT applied</span><br><small>{}</small>',
            scene.seed_note or "the model rejected the seed",
        )

    @admin.display(description="latent reuse")
    def latent_reuse(self, scene: Scene) -> str:
        if not scene.handover_method:
            return NOTHING
        method = scene.get_handover_method_display()
        if scene.handover_from is None:
            return method
        return f"{method} from scene {scene.handover_from.number}"

    @admin.display(description="render")
    def render(self, scene: Scene) -> str:
        source = scene.reused_from
        if source:
            return f"reused (no prediction) from scene {source['scene']} of {source['generation']}"
        return "rendered" if scene.recipe else NOTHING

    @admin.display(description="clip")
    def clip_player(self, scene: Scene) -> SafeString | str:
        return video_player(scene_file_url(scene, "clip"), width=200)

    @admin.display(description="recipe")
    def recipe_pretty(self, scene: Scene) -> SafeString | str:
        if not scene.recipe:
            return NOTHING
        return format_html(
            "<details><summary>recipe</summary>{}</details>", pretty_json(scene.recipe)
        )
