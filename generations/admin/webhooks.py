"""Admin for webhooks to API consumers: the delivery log (read-only) and the signing secrets
(never shown, only rotated: the new one is shown once, on the page the action answers with)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from generations.models import ConsumerWebhookEvent, ConsumerWebhookSecret
from generations.webhooks_out.signing import rotate_secret


@admin.register(ConsumerWebhookEvent)
class ConsumerWebhookEventAdmin(admin.ModelAdmin):
    """What was sent to whom, and what came back: a log, so nothing here can be changed."""

    list_display = (
        "created_at",
        "event",
        "generation",
        "owner",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("status", "event")
    search_fields = ("webhook_id", "url", "generation__id")
    readonly_fields = (
        "webhook_id",
        "event",
        "generation",
        "owner",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "last_answer",
        "last_error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "body",
    )
    fields = readonly_fields
    list_select_related = ("generation", "owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsumerWebhookSecret)
class ConsumerWebhookSecretAdmin(admin.ModelAdmin):
    """Who has a signing secret and since when; the secret itself is never displayed."""

    list_display = ("owner", "created_at")
    fields = ("owner", "created_at")
    readonly_fields = fields
    search_fields = ("owner__username",)
    actions = ["rotate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change permission gates the action; the form itself has nothing to change.
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(
        description="Rotate the signing secret (the new one is shown once)", permissions=["change"]
    )
    def rotate(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse:
        rotated = [(row.owner, rotate_secret(user=row.owner)) for row in queryset]
        context = {
            **self.admin_site.each_context(request),
            "title": "New webhook signing secrets",
            "rotated": rotated,
            "opts": self.model._meta,
        }
        response = TemplateResponse(
            request, "admin/generations/webhook_secret_rotated.html", context
        )
        response["Cache-Control"] = "no-store"
        return response
