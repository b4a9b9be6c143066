"""Staff admin: which video used seed N, with exactly what, and make it again.

The admin stays thin: reads go through generations.selectors, regeneration and cancelling through
generations.services. By concern: this module is the generation's ModelAdmin and its regenerate
and cancel actions; ``displays`` its columns and fields, ``scenes`` the scene inline, ``filters``,
``forms``, ``views`` (seed lookup, create with images), ``iterate`` (re-render, finalize, choose a
variation), ``hosted_models`` and ``webhooks``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join

from generations.admin.displays import (
    GenerationDisplays,
    admin_link,
    reason,
    seed_text,
    staff_page_url,
)
from generations.admin.filters import LatentReuseFilter, SeedControlFilter
from generations.admin.iterate import choose_variation_view, finalize_previews, rerender_one_scene
from generations.admin.scenes import SceneInline
from generations.admin.views import create_view, seed_lookup_view
from generations.iterate.variations import variation_cards
from generations.models import SEED_MAX, Generation
from generations.selectors import generations_visible_to
from generations.services.cancel import cancel_generation
from generations.services.reproduce import KEEP_SEED, regenerate_generation


@admin.register(Generation)
class GenerationAdmin(GenerationDisplays, admin.ModelAdmin):
    list_display = (
        "display_title",
        "owner",
        "status",
        "progress_bar",
        "seed",
        "score",
        "model",
        "estimated_cost",
        "cost",
        "created_at",
    )
    list_display_links = ("display_title",)
    list_filter = (
        "status",
        SeedControlFilter,
        LatentReuseFilter,
        "provider",
        "model",
    )
    list_select_related = ("owner",)
    # Titles by substring, prediction ids (of any scene) exactly; an integer also matches the
    # generation seed exactly (see get_search_results).
    search_fields = ("title", "=scenes__prediction_id")
    search_help_text = "A seed (exact), a prediction id of any scene (exact), or part of a title."
    date_hierarchy = "created_at"
    actions = (
        "regenerate_same_seed",
        "regenerate_new_seed",
        "cancel",
        rerender_one_scene,
        finalize_previews,
    )
    inlines = (SceneInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    "owner",
                    "status",
                    "progress_bar",
                    "stage",
                    "staff_page",
                    ("created_at", "started_at", "finished_at"),
                    "warnings_list",
                    "error",
                )
            },
        ),
        (
            "Reproducibility",
            {
                "fields": (
                    "seed_display",
                    ("provider", "model", "model_version"),
                    "reference_image_preview",
                    "source_link",
                    "regenerations_links",
                    "recipe_pretty",
                )
            },
        ),
        (
            "Output",
            {
                "fields": (
                    "video_player",
                    ("score", "estimated_cost", "cost", "frame_count"),
                    "coherence_picture",
                    "boundary_table",
                )
            },
        ),
    )
    readonly_fields = (
        "owner",
        "status",
        "progress_bar",
        "stage",
        "staff_page",
        "created_at",
        "started_at",
        "finished_at",
        "warnings_list",
        "error",
        "seed_display",
        "provider",
        "model",
        "model_version",
        "reference_image_preview",
        "source_link",
        "regenerations_links",
        "recipe_pretty",
        "video_player",
        "score",
        "estimated_cost",
        "cost",
        "frame_count",
        "coherence_picture",
        "boundary_table",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Generations are created through the API or `manage.py generate`, which validate plans.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Generation]:
        # The admin already demands view_generation; scoping here too keeps one rule everywhere.
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=generations_visible_to(request.user).values("pk"))
        )

    def delete_model(self, request: HttpRequest, obj: Generation) -> None:
        # Stop what is still running (and billing) first; the files go once the delete commits.
        cancel_generation(generation=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for generation in queryset.exclude(status__in=Generation.TERMINAL):
            cancel_generation(generation=generation)
        super().delete_queryset(request, queryset)

    def view_on_site(self, obj: Generation) -> str:
        return staff_page_url(obj)

    # --- search ---------------------------------------------------------------------------------

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        seed = _as_seed(search_term)
        if seed is not None:
            results |= queryset.filter(seed=seed)
        return results, may_have_duplicates

    # --- actions ----------------------------------------------------------------------------------

    @admin.action(description="Regenerate with the same seed", permissions=["change"])
    def regenerate_same_seed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._regenerate(request, queryset, seed=KEEP_SEED)

    @admin.action(description="Regenerate with a new seed", permissions=["change"])
    def regenerate_new_seed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._regenerate(request, queryset, seed=None)

    def _regenerate(self, request: HttpRequest, queryset: QuerySet, *, seed: Any) -> None:
        for source in queryset.order_by("created_at"):
            if seed is KEEP_SEED and source.awaits_seed:
                messages.warning(
                    request,
                    format_html(
                        "{} has no seed yet (it is {}), so there is no seed to repeat.",
                        admin_link(source),
                        source.status,
                    ),
                )
                continue
            try:
                new = regenerate_generation(source=source, seed=seed, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                messages.error(
                    request,
                    format_html("Could not regenerate {}: {}", admin_link(source), reason(exc)),
                )
                continue
            new.refresh_from_db()  # the pipeline may already have drawn the seed and finished
            messages.success(
                request,
                format_html(
                    'Regenerated {} as {} with {}{} (<a href="{}">staff page</a>, {}).',
                    admin_link(source),
                    admin_link(new),
                    "the same " if seed is KEEP_SEED and new.seed is not None else "",
                    seed_text(new),
                    staff_page_url(new),
                    new.status,
                ),
            )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        canceled, finished = [], []
        for generation in queryset.order_by("created_at"):
            if cancel_generation(generation=generation):
                canceled.append(generation)
            else:
                finished.append(generation)
        if canceled:
            messages.success(
                request,
                format_html(
                    "Canceled {}.",
                    format_html_join(", ", "{}", ((admin_link(g),) for g in canceled)),
                ),
            )
        if finished:
            messages.warning(
                request,
                format_html(
                    "Left {} unchanged: already finished.",
                    format_html_join(
                        ", ", "{} ({})", ((admin_link(g), g.status) for g in finished)
                    ),
                ),
            )

    # --- seed lookup ------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        lookup = path(
            "seed-lookup/",
            self.admin_site.admin_view(partial(seed_lookup_view, self)),
            name="generations_generation_seed_lookup",
        )
        create = path(
            "create-with-images/",
            self.admin_site.admin_view(partial(create_view, self)),
            name="generations_generation_create_with_images",
        )
        choose = path(
            "<path:object_id>/variations/<int:number>/choose/",
            self.admin_site.admin_view(partial(choose_variation_view, self)),
            name="generations_generation_choose_variation",
        )
        return [lookup, create, choose, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        # The ranked variations grid (templates/generations/_variations_grid.html).
        parent = self.get_object(request, object_id)
        cards = variation_cards(parent) if parent is not None else []
        context = {**(extra_context or {}), "variation_cards": cards, "variation_parent": parent}
        return super().change_view(request, object_id, form_url, extra_context=context)


def _as_seed(term: str) -> int | None:
    term = term.strip()
    if not term.isdigit():
        return None
    value = int(term)
    return value if value <= SEED_MAX else None
