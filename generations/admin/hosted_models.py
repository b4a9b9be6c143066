"""Admin of the hosted models' stored live input schemas (read-only: `sync_models` writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from generations.admin.displays import pretty_json
from generations.models import HostedModelSchema


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
