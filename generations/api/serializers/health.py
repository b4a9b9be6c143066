"""Response shape of ``GET /api/health/``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generations.api.serializers.fields import enum_schema

HEALTH_STATUSES = ("ok", "fail")


@extend_schema_field(enum_schema(HEALTH_STATUSES), component_name="HealthStatus")
class HealthStatusField(serializers.CharField):
    pass


class HealthSerializer(serializers.Serializer):
    status = HealthStatusField()
    database = serializers.CharField(
        required=False, help_text='Staff only: "ok", or why the database is unreachable.'
    )
    broker = serializers.CharField(
        required=False, help_text='Staff only: "ok", or why the task broker is unreachable.'
    )
