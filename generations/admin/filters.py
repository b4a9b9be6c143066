"""The generation admin's list filters."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest


class _SwitchFilter(admin.SimpleListFilter):
    """On/off filter for one boolean key of Generation.render_settings (a JSON field)."""

    setting = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("on", "on"), ("off", "off")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # A missing key means the default (on), exactly as Generation.seed_control reads it.
        off = {f"render_settings__{self.setting}": False}
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
