"""The generation admin's own pages: the seed lookup and a create with uploaded start images.

Functions of the ModelAdmin (wired in ``GenerationAdmin.get_urls``), thin like the rest of the
admin: reads through generations.selectors, the create through generations.services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from generations.admin.displays import admin_link
from generations.admin.forms import CreateWithImagesForm, SeedLookupForm
from generations.selectors import generations_with_seed, scenes_with_seed
from generations.services.create import create_generation


def seed_lookup_view(modeladmin: admin.ModelAdmin, request: HttpRequest) -> TemplateResponse:
    """Every generation and scene (the user may see) that used a seed."""
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    form = SeedLookupForm(request.GET if "seed" in request.GET else None)
    generations, scenes = None, None
    if form.is_valid():
        seed = form.cleaned_data["seed"]
        generations = list(generations_with_seed(seed=seed, user=request.user))
        scenes = list(
            scenes_with_seed(seed=seed, user=request.user).order_by(
                "-generation__created_at", "index"
            )
        )
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": "Seed lookup",
        "form": form,
        "generations": generations,
        "scenes": scenes,
    }
    return TemplateResponse(request, "admin/generations/generation/seed_lookup.html", context)


def create_view(
    modeladmin: admin.ModelAdmin, request: HttpRequest
) -> TemplateResponse | HttpResponseRedirect:
    """A plan with start images uploaded as files (the API takes multipart or data URIs)."""
    if not modeladmin.has_change_permission(request):
        raise PermissionDenied
    form = CreateWithImagesForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            generation = create_generation(form.generation_request(), owner=request.user)
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                form.add_error(None, f"{field_name}: {' '.join(errors)}")
        else:
            messages.success(request, format_html("Created {}.", admin_link(generation)))
            return HttpResponseRedirect(
                reverse("admin:generations_generation_change", args=[generation.pk])
            )
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "title": "Create a generation with start images",
        "form": form,
    }
    return TemplateResponse(
        request, "admin/generations/generation/create_with_images.html", context
    )
