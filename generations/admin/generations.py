"""Staff admin: which video used seed N, with exactly what, and make it again.

The admin stays thin: reads go through generations.selectors, regeneration and cancelling through
generations.services.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from generations.admin.iterate import choose_variation_view, finalize_previews, rerender_one_scene
from generations.iterate.variations import variation_cards
from generations.media.links import scene_file_url, video_url
from generations.models import SEED_MAX, Generation, HostedModelSchema, Scene
from generations.selectors import (
    generation_recipe,
    generations_visible_to,
    generations_with_seed,
    scenes_with_seed,
)
from generations.services.cancel import cancel_generation
from generations.services.create import create_generation
from generations.services.reproduce import KEEP_SEED, regenerate_generation
from pipeline.coherence.drawing import render_report_svg

NOTHING = "—"


def pretty_json(value: Any) -> SafeString:
    return format_html('<pre class="coherence-json">{}</pre>', json.dumps(value, indent=2))


def video_player(url: str | None, *, width: int = 320) -> SafeString | str:
    """A player for a media endpoint URL (generations.media.links: checked per request)."""
    if not url:
        return NOTHING
    return format_html(
        '<video controls preload="metadata" width="{}" src="{}"></video><br>'
        '<a href="{}" download>download</a>',
        width,
        url,
        url,
    )


def admin_link(generation: Generation) -> SafeString:
    url = reverse("admin:generations_generation_change", args=[generation.pk])
    return format_html('<a href="{}">{}</a>', url, generation)


def staff_page_url(generation: Generation) -> str:
    return reverse("generations:detail", args=[generation.pk])


# --- list filters ------------------------------------------------------------------------------


class _SwitchFilter(admin.SimpleListFilter):
    """On/off filter for one boolean key of Generation.coherence_settings (a JSON field)."""

    setting = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("on", "on"), ("off", "off")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # A missing key means the default (on), exactly as Generation.seed_control reads it.
        off = {f"coherence_settings__{self.setting}": False}
        if self.value() == "off":
            return queryset.filter(**off)
        if self.value() == "on":
            return queryset.exclude(**off)
        return queryset


class SeedControlFilter(_SwitchFilter):
    title = "seed control"
    parameter_name = "seed_control"
    setting = "seed_control"


class LatentReuseFilter(_SwitchFilter):
    title = "latent reuse"
    parameter_name = "latent_reuse"
    setting = "latent_reuse"


# --- scenes --------------------------------------------------------------------------------------


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
        return super().get_queryset(request).select_related("latent_source")

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
        if not scene.latent_reuse_method:
            return NOTHING
        method = scene.get_latent_reuse_method_display()
        if scene.latent_source is None:
            return method
        return f"{method} from scene {scene.latent_source.number}"

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


# --- seed lookup ---------------------------------------------------------------------------------


class SeedLookupForm(forms.Form):
    seed = forms.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        label="Seed",
        error_messages={"invalid": f"A seed is a whole number from 0 to {SEED_MAX}."},
    )


# --- generations ---------------------------------------------------------------------------------


_SCENE_FILE = re.compile(r"^scene-(\d+)\.", re.IGNORECASE)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class CreateWithImagesForm(forms.Form):
    """The plan as JSON (as the API takes it) plus start images as uploaded files."""

    title = forms.CharField(max_length=200, required=False)
    provider = forms.CharField(required=False, help_text="local or replicate")
    model = forms.CharField(required=False, help_text="e.g. wan-video/wan-2.2-i2v-fast")
    scenes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text='JSON list: [{"prompt": "...", "duration": 5, "continuous": false}, ...]',
    )
    reference_image = forms.FileField(
        required=False, help_text="Start image of every chain head without its own."
    )
    scene_images = MultipleFileField(
        required=False,
        widget=MultipleFileInput(),
        help_text="Start images of single scenes, named scene-N.png/.jpg/.webp (N from 1).",
    )

    def clean_scenes(self) -> Any:
        try:
            return json.loads(self.cleaned_data["scenes"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        scenes = cleaned.get("scenes")
        for upload in cleaned.get("scene_images") or []:
            match = _SCENE_FILE.match(upload.name)
            index = int(match.group(1)) - 1 if match else -1
            if not isinstance(scenes, list) or not 0 <= index < len(scenes):
                self.add_error("scene_images", f"{upload.name}: name it scene-N for a scene N.")
            elif isinstance(scenes[index], dict):
                scenes[index] = {**scenes[index], "image": upload}
        return cleaned

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "scenes": data["scenes"],
            "title": data["title"],
            "provider": data["provider"] or None,
            "model": data["model"] or None,
            "reference_image": data["reference_image"],
        }


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "display_title",
        "owner",
        "status",
        "progress_bar",
        "seed_value",
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
            results |= queryset.filter(seed_value=seed)
        return results, may_have_duplicates

    # --- columns and fields -----------------------------------------------------------------------

    @admin.display(description="title", ordering="title")
    def display_title(self, generation: Generation) -> str:
        return generation.title or f"(untitled {str(generation.pk)[:8]})"

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, generation: Generation) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}%',
            generation.progress,
            generation.progress,
        )

    @admin.display(description="score", ordering="coherence_score")
    def score(self, generation: Generation) -> SafeString | str:
        if generation.coherence_score is None:
            return NOTHING
        boundaries = (generation.coherence_report or {}).get("boundaries") or []
        failed = sum(1 for b in boundaries if b.get("failed_handover"))
        if not failed:
            return f"{generation.coherence_score:.3f}"
        return format_html(
            '{} <span class="coherence-flag" title="planned continuous, seen as a cut">'
            "✘ {} failed hand-over{}</span>",
            f"{generation.coherence_score:.3f}",
            failed,
            "s" if failed > 1 else "",
        )

    @admin.display(description="staff page")
    def staff_page(self, generation: Generation) -> SafeString:
        return format_html('<a href="{}">open the staff page</a>', staff_page_url(generation))

    @admin.display(description="seed")
    def seed_display(self, generation: Generation) -> SafeString | str:
        if not generation.seed_control:
            return "seed control off: no seed was sent"
        if generation.seed_value is None:
            return "not drawn yet"
        lookup = reverse("admin:generations_generation_seed_lookup")
        return format_html(
            '<strong class="coherence-seed">{}</strong> (<a href="{}?seed={}">every use of it</a>)',
            generation.seed_value,
            lookup,
            generation.seed_value,
        )

    @admin.display(description="warnings")
    def warnings_list(self, generation: Generation) -> SafeString | str:
        if not generation.warnings:
            return NOTHING
        items = format_html_join("", "<li>{}</li>", ((w,) for w in generation.warnings))
        return format_html('<ul class="coherence-warnings">{}</ul>', items)

    @admin.display(description="regenerated from")
    def source_link(self, generation: Generation) -> SafeString | str:
        source = generation.source_generation
        return admin_link(source) if source else NOTHING

    @admin.display(description="regenerations")
    def regenerations_links(self, generation: Generation) -> SafeString | str:
        regenerations = list(generation.regenerations.order_by("created_at"))
        if not regenerations:
            return NOTHING
        items = format_html_join(
            "",
            "<li>{} ({}, {})</li>",
            ((admin_link(r), _seed_text(r), r.status) for r in regenerations),
        )
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="recipe")
    def recipe_pretty(self, generation: Generation) -> SafeString:
        return pretty_json(generation_recipe(generation))

    @admin.display(description="video")
    def video_player(self, generation: Generation) -> SafeString | str:
        return video_player(video_url(generation), width=512)

    @admin.display(description="coherence picture")
    def coherence_picture(self, generation: Generation) -> SafeString | str:
        if not generation.coherence_report:
            return NOTHING
        # Our own matplotlib output (no user text in it), so it is safe to inline.
        return mark_safe(
            f'<div class="coherence-svg">{render_report_svg(generation.coherence_report)}</div>'
        )

    @admin.display(description="boundaries")
    def boundary_table(self, generation: Generation) -> SafeString | str:
        boundaries = (generation.coherence_report or {}).get("boundaries") or []
        if not boundaries:
            return NOTHING
        return render_to_string(
            "admin/generations/generation/_boundaries.html", {"boundaries": boundaries}
        )

    # --- actions ----------------------------------------------------------------------------------

    @admin.action(description="Regenerate with the same seed", permissions=["change"])
    def regenerate_same_seed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._regenerate(request, queryset, seed=KEEP_SEED)

    @admin.action(description="Regenerate with a new seed", permissions=["change"])
    def regenerate_new_seed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._regenerate(request, queryset, seed=None)

    def _regenerate(self, request: HttpRequest, queryset: QuerySet, *, seed: Any) -> None:
        for source in queryset.order_by("created_at"):
            if seed is KEEP_SEED and source.seed_control and source.seed_value is None:
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
                    format_html("Could not regenerate {}: {}", admin_link(source), _reason(exc)),
                )
                continue
            new.refresh_from_db()  # the pipeline may already have drawn the seed and finished
            messages.success(
                request,
                format_html(
                    'Regenerated {} as {} with {}{} (<a href="{}">staff page</a>, {}).',
                    admin_link(source),
                    admin_link(new),
                    "the same " if seed is KEEP_SEED and new.seed_value is not None else "",
                    _seed_text(new),
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
            self.admin_site.admin_view(self.seed_lookup_view),
            name="generations_generation_seed_lookup",
        )
        create = path(
            "create-with-images/",
            self.admin_site.admin_view(self.create_view),
            name="generations_generation_create_with_images",
        )
        choose = path(
            "<path:object_id>/variations/<int:number>/choose/",
            self.admin_site.admin_view(self.choose_variation_view),
            name="generations_generation_choose_variation",
        )
        return [lookup, create, choose, *super().get_urls()]

    def choose_variation_view(self, request: HttpRequest, object_id: str, number: int) -> Any:
        return choose_variation_view(self, request, object_id, number)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        # The ranked variations grid (templates/generations/_variations_grid.html).
        parent = self.get_object(request, object_id)
        cards = variation_cards(parent) if parent is not None else []
        context = {**(extra_context or {}), "variation_cards": cards, "variation_parent": parent}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.display(description="reference image")
    def reference_image_preview(self, generation: Generation) -> SafeString | str:
        if not generation.reference_image:
            return NOTHING
        return format_html(
            '<img src="{}" width="160" alt="reference image"><br><code>sha256 {}</code>',
            generation.reference_image.url,
            generation.reference_image_sha256,
        )

    def create_view(self, request: HttpRequest) -> TemplateResponse | HttpResponseRedirect:
        """A plan with start images uploaded as files (the API takes multipart or data URIs)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = CreateWithImagesForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                generation = create_generation(owner=request.user, **form.service_fields())
            except ValidationError as exc:
                for field_name, errors in exc.message_dict.items():
                    form.add_error(None, f"{field_name}: {' '.join(errors)}")
            else:
                messages.success(request, format_html("Created {}.", admin_link(generation)))
                return HttpResponseRedirect(
                    reverse("admin:generations_generation_change", args=[generation.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Create a generation with start images",
            "form": form,
        }
        return TemplateResponse(
            request, "admin/generations/generation/create_with_images.html", context
        )

    def seed_lookup_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
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
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Seed lookup",
            "form": form,
            "generations": generations,
            "scenes": scenes,
        }
        return TemplateResponse(request, "admin/generations/generation/seed_lookup.html", context)


def _reason(exc: ValidationError | PermissionDenied) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _as_seed(term: str) -> int | None:
    term = term.strip()
    if not term.isdigit():
        return None
    value = int(term)
    return value if value <= SEED_MAX else None


def _seed_text(generation: Generation) -> str:
    if not generation.seed_control:
        return "no seed (seed control off)"
    if generation.seed_value is None:
        return "a seed drawn when it starts"
    return f"seed {generation.seed_value}"


@admin.register(HostedModelSchema)
class HostedModelSchemaAdmin(admin.ModelAdmin):
    """Each hosted model's stored live input schema and how old it is (``sync_models``)."""

    list_display = ("model", "short_fingerprint", "age", "disagreement_count", "fetched_at")
    readonly_fields = (
        "model",
        "fingerprint",
        "latest_version_id",
        "fetched_at",
        "age",
        "disagreements_list",
        "schema_pretty",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # fetched by `manage.py sync_models`, never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="fingerprint")
    def short_fingerprint(self, row: HostedModelSchema) -> str:
        return row.fingerprint[:12]

    @admin.display(description="age", ordering="fetched_at")
    def age(self, row: HostedModelSchema) -> str:
        return f"{timesince(row.fetched_at)} ago"

    @admin.display(description="disagreements")
    def disagreement_count(self, row: HostedModelSchema) -> int:
        return len(row.disagreements)

    @admin.display(description="registry vs schema")
    def disagreements_list(self, row: HostedModelSchema) -> SafeString | str:
        if not row.disagreements:
            return "none: the registry matches the schema"
        items = format_html_join("", "<li>{}</li>", ((line,) for line in row.disagreements))
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="input schema")
    def schema_pretty(self, row: HostedModelSchema) -> SafeString:
        return pretty_json(row.input_schema)
