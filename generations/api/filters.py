"""Query filters for the generation list (django-filter, documented in views.LIST_FILTERS) and
the ordering that refuses unknown fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter

from generations.models import SEED_MAX, Generation


class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter: ``seed_value=1.5`` is a 400, not silently ``1``."""

    field_class = forms.IntegerField


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, turned into UTC before it reaches the database: Python accepts
    offsets up to ±23:59, PostgreSQL only up to ±15:59, so ``+20:15`` must not reach it as is."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("The date-time is out of range once turned into UTC.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class GenerationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Generation.Status.choices)
    seed_value = IntegerFilter(field_name="seed", min_value=0, max_value=SEED_MAX)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Generation
        fields = ["status", "seed_value", "created_after", "created_before"]


class StrictOrderingFilter(OrderingFilter):
    """DRF's ordering, except that an unknown field is a 400 naming the allowed ones (DRF drops
    it silently and answers in the default order, which a caller cannot tell from a real sort)."""

    def remove_invalid_fields(
        self, queryset: QuerySet, fields: list[str], view: Any, request: Any
    ) -> list[str]:
        allowed = self._allowed(queryset, view, request)
        unknown = [term for term in fields if term.removeprefix("-") not in allowed]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown ordering field(s): {', '.join(map(repr, unknown))}. Allowed: "
                        f"{', '.join(allowed)} (comma-separated; prefix - for descending)."
                    ]
                }
            )
        return fields

    def _allowed(self, queryset: QuerySet, view: Any, request: Any) -> list[str]:
        return [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        # The class attribute queryset: the schema is built without a request to scope one.
        allowed = [name for name, _ in self.get_valid_fields(getattr(view, "queryset", None), view)]
        default = ",".join(self.get_default_ordering(view) or ()) or "none"
        term = rf"\s*-?({'|'.join(map(re.escape, allowed))})\s*"
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Sort by {', '.join(allowed)}: comma-separated, `-` for "
                f"descending (default `{default}`). Any other field is a 400 naming these; "
                "empty: the default.",
                "schema": {
                    "anyOf": [
                        {"type": "string", "pattern": f"^{term}(,{term})*$"},
                        {"type": "string", "maxLength": 0},
                    ]
                },
            }
        ]
