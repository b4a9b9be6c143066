"""Fields and helpers the response serializers share: named status enums and absolute URLs.

Several serializers have a field named "status" with different choices; each gets its own named
enum component (drf-spectacular would otherwise invent hashed names like "Status2b5Enum").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generations.models import Generation, Scene


def enum_schema(values: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI schema of a string enum of these values."""
    return {"type": "string", "enum": list(values)}


@extend_schema_field(enum_schema(Generation.Status.values), component_name="GenerationStatus")
class GenerationStatusField(serializers.CharField):
    pass


@extend_schema_field(enum_schema(Scene.Status.values), component_name="SceneStatus")
class SceneStatusField(serializers.CharField):
    pass


def absolute(context: dict[str, Any], url: str | None) -> str | None:
    """``url`` made absolute with the serializer context's request (as is without one)."""
    request = context.get("request")
    return request.build_absolute_uri(url) if url and request is not None else url
