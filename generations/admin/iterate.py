"""The admin's iteration tools: the "Re-render one scene" action (with its form page, the form
in ``forms``), "Finalize preview", and choosing a variation from the ranked grid.

Thin like the rest of the admin: the work is done by ``generations.iterate``; every action and
view needs the change permission, as regenerate and cancel do.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from generations.admin.displays import admin_link, reason
from generations.admin.forms import RerenderSceneForm
from generations.iterate.finalize import finalize_preview
from generations.iterate.rerender import plan_rerender, rerender_scene
from generations.iterate.variations import (
    NoSuchVariation,
    VariationStateError,
    choose_variation,
)
from generations.models import Generation
from generations.selectors import generations_visible_to

RERENDER_TEMPLATE = "admin/generations/generation/rerender_scene.html"


@admin.action(description="Re-render one scene (reuse the others)", permissions=["change"])
def rerender_one_scene(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> TemplateResponse | None:
    if queryset.count() != 1:
        messages.warning(request, "Select exactly one generation to re-render a scene of.")
        return None
    source = queryset.get()
    form = RerenderSceneForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            new = rerender_scene(
                source=source,
                number=data["scene"],
                prompt=data["prompt"] or None,
                duration=data["duration"],
                seed=form.seed_choice(),
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, reason(exc))
        else:
            messages.success(
                request,
                format_html(
                    "Re-rendering scene {} of {} as {}.",
                    data["scene"],
                    admin_link(source),
                    admin_link(new),
                ),
            )
            return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": f"Re-render one scene of {source}",
        "form": form,
        "source": source,
        "scenes": _scene_rows(source),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, RERENDER_TEMPLATE, context)


def _scene_rows(source: Generation) -> list[dict[str, Any]]:
    """Each scene with what re-rendering it would render, reuse and cost."""
    rows = []
    for scene in source.scenes.order_by("index"):
        try:
            planned = plan_rerender(source=source, number=scene.number)
        except ValidationError as exc:
            rows.append({"scene": scene, "note": " ".join(exc.messages)})
            continue
        rows.append(
            {
                "scene": scene,
                "rendered": ", ".join(str(i + 1) for i in planned.rendered),
                "cost": planned.estimated_cost,
            }
        )
    return rows


@admin.action(description="Finalize preview at full quality", permissions=["change"])
def finalize_previews(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    for preview in queryset.order_by("created_at"):
        try:
            new, created = finalize_preview(preview=preview, actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, format_html("{}: {}", admin_link(preview), reason(exc)))
            continue
        if created:
            messages.success(
                request, format_html("Finalizing {} as {}.", admin_link(preview), admin_link(new))
            )
        else:
            messages.info(
                request,
                format_html(
                    "{} was finalized already, as {}: nothing new started.",
                    admin_link(preview),
                    admin_link(new),
                ),
            )


def choose_variation_view(
    modeladmin: admin.ModelAdmin, request: HttpRequest, object_id: str, number: int
) -> HttpResponse:
    if request.method != "POST":  # choosing starts paid work: never on a GET
        return HttpResponseNotAllowed(["POST"])
    parent = generations_visible_to(request.user).filter(pk=object_id).first()
    if parent is None:
        raise Http404("No such generation.")
    if not modeladmin.has_change_permission(request, parent):
        raise PermissionDenied
    try:
        choose_variation(parent=parent, number=number, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except NoSuchVariation as exc:
        raise Http404(str(exc)) from None
    except VariationStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Chose variation {number}: the full generation has started.")
    return HttpResponseRedirect(reverse("admin:generations_generation_change", args=[parent.pk]))
