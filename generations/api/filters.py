"""Query filters for the generation list (django-filter); documented in views.LIST_FILTERS."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError

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
    seed_value = IntegerFilter(min_value=0, max_value=SEED_MAX)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Generation
        fields = ["status", "seed_value", "created_after", "created_before"]
