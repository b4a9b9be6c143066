"""Shapes of the provider webhook receiver: what Replicate posts, and the receipt it is answered."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generations.api.serializers.fields import enum_schema

WEBHOOK_OUTCOMES = ("queued", "duplicate", "unknown prediction", "ignored")


@extend_schema_field(enum_schema(WEBHOOK_OUTCOMES), component_name="WebhookOutcome")
class WebhookOutcomeField(serializers.CharField):
    pass


class ReplicatePredictionSerializer(serializers.Serializer):
    """The prediction object Replicate posts (only the fields the receiver reads)."""

    id = serializers.CharField()
    status = serializers.CharField(help_text="starting, processing, succeeded, failed, canceled")
    output = serializers.JSONField(required=False, allow_null=True)
    error = serializers.JSONField(required=False, allow_null=True)
    metrics = serializers.DictField(required=False, allow_null=True)


class WebhookReceiptSerializer(serializers.Serializer):
    status = WebhookOutcomeField(
        help_text="queued: a worker completes the named scene now; duplicate: this webhook-id was "
        "already applied; unknown prediction / ignored: nothing to do (non-terminal status).",
    )
