"""Query filters for the generation list (django-filter); documented in views.LIST_FILTERS."""

from __future__ import annotations

import django_filters
from django import forms

from generations.models import SEED_MAX, Generation


class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter: ``seed_value=1.5`` is a 400, not silently ``1``."""

    field_class = forms.IntegerField


class GenerationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Generation.Status.choices)
    seed_value = IntegerFilter(min_value=0, max_value=SEED_MAX)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Generation
        fields = ["status", "seed_value", "created_after", "created_before"]
