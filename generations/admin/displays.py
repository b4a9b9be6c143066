"""How the admin shows a generation: links, players, JSON, seeds, and the generation's columns
and read-only fields (``GenerationDisplays``, mixed into ``GenerationAdmin``)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from generations.media.links import video_url
from generations.models import Generation
from generations.selectors import generation_recipe
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


def reason(exc: ValidationError | PermissionDenied) -> str:
    """Why a service refused, as one line for a message."""
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


def seed_text(generation: Generation) -> str:
    if not generation.seed_control:
        return "no seed (seed control off)"
    if generation.awaits_seed:
        return "a seed drawn when it starts"
    return f"seed {generation.seed}"


class GenerationDisplays:
    """The generation admin's computed columns and fields (named in its list_display/fieldsets)."""

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
        if generation.awaits_seed:
            return "not drawn yet"
        lookup = reverse("admin:generations_generation_seed_lookup")
        return format_html(
            '<strong class="coherence-seed">{}</strong> (<a href="{}?seed={}">every use of it</a>)',
            generation.seed,
            lookup,
            generation.seed,
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
            ((admin_link(r), seed_text(r), r.status) for r in regenerations),
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

    @admin.display(description="reference image")
    def reference_image_preview(self, generation: Generation) -> SafeString | str:
        if not generation.reference_image:
            return NOTHING
        return format_html(
            '<img src="{}" width="160" alt="reference image"><br><code>sha256 {}</code>',
            generation.reference_image.url,
            generation.reference_image_sha256,
        )
