"""Request and response shapes of the iteration endpoints (``generations.api.iterate``).

As for create, request bodies are checked by the services (``generations.api.parsers.read_body``
only checks the envelope); these classes document them in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coherence_project.conf import config
from generations.api.serializers.fields import absolute
from generations.iterate.variations import MAX_VARIATIONS, MIN_VARIATIONS, SCOPES, measured
from generations.media.links import thumbnail_url, video_url
from generations.models import SEED_MAX, Generation

COST = {"max_digits": 12, "decimal_places": 4, "allow_null": True}


class RerenderSerializer(serializers.Serializer):
    prompt = serializers.CharField(
        max_length=2000, required=False, help_text="A new prompt for the scene (default: same)."
    )
    duration = serializers.FloatField(
        min_value=config.MIN_SCENE_SECONDS,
        max_value=config.MAX_SCENE_SECONDS,
        required=False,
        help_text="A new duration in seconds (default: same).",
    )
    seed = serializers.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        required=False,
        allow_null=True,
        help_text="Omitted: the generation's seed. A number: sent to this scene alone. "
        "null: a fresh seed for this scene.",
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)

    FIELDS = ("prompt", "duration", "seed", "title")


class RerenderPlanSerializer(serializers.Serializer):
    rendered_scenes = serializers.ListField(
        child=serializers.IntegerField(), help_text="Scene numbers sent to the model."
    )
    reused_scenes = serializers.ListField(
        child=serializers.IntegerField(), help_text="Scene numbers copied (no prediction, $0)."
    )
    estimated_cost = serializers.DecimalField(**COST, help_text="null: the price is unknown.")
    currency = serializers.CharField()


class FinalizeSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)

    FIELDS = ("title",)


class FinalizeEstimateSerializer(serializers.Serializer):
    estimated_cost = serializers.DecimalField(**COST)
    currency = serializers.CharField()
    seed = serializers.IntegerField(allow_null=True, help_text="The seed that will be used.")


class VariationSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 = the best coherence score.")
    number = serializers.IntegerField(source="generation.variation_number")
    generation = serializers.UUIDField(source="generation.pk")
    url = serializers.HyperlinkedRelatedField(
        view_name="api:generation-detail", source="generation", read_only=True
    )
    status = serializers.CharField(source="generation.status")
    seed = serializers.IntegerField(source="generation.seed", allow_null=True)
    score = serializers.FloatField(source="generation.coherence_score", allow_null=True)
    noise = serializers.SerializerMethodField(
        help_text="Measured frame-to-frame noise (0-255 luma, mean over scenes) from the same "
        "report: equal scores are ranked by it, lowest first."
    )
    flicker = serializers.SerializerMethodField(
        help_text="Measured brightness flicker (0.01 = 1 %), the next tie-break."
    )
    thumbnail_url = serializers.SerializerMethodField(help_text="The first frame (PNG).")
    video_url = serializers.SerializerMethodField()
    chosen = serializers.BooleanField()

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_noise(self, item: dict[str, Any]) -> float | None:
        report = item["generation"].coherence_report
        return measured(report, "noise") if report else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_flicker(self, item: dict[str, Any]) -> float | None:
        report = item["generation"].coherence_report
        return measured(report, "flicker") if report else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, item: dict[str, Any]) -> str | None:
        return absolute(self.context, thumbnail_url(item["generation"]))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_video_url(self, item: dict[str, Any]) -> str | None:
        return absolute(self.context, video_url(item["generation"]))


class EstimateRequestSerializer(serializers.Serializer):
    """The create body; only the plan, provider, model and variations change the estimate."""

    scenes = serializers.ListField(child=serializers.DictField())
    provider = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    variations = serializers.IntegerField(
        min_value=MIN_VARIATIONS, max_value=MAX_VARIATIONS, required=False
    )
    variations_scope = serializers.ChoiceField(choices=SCOPES, required=False)


class EstimateSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    currency = serializers.CharField()
    full = serializers.DecimalField(**COST, help_text="The plan at full quality.")
    preview = serializers.DecimalField(**COST, help_text="The plan as a preview.")
    variations = serializers.DecimalField(
        **COST, help_text="All the variations asked for (null when none were)."
    )
    price_note = serializers.CharField(help_text="Where the model's price comes from.")


QUALITY_HELP = (
    '"full" (default) or "preview": the model\'s cheapest settings (lowest resolution, '
    "shortest allowed duration), same seed; finalize it later at full quality."
)


@extend_schema_field(
    {"type": "string", "enum": list(Generation.Quality.values)}, component_name="GenerationQuality"
)
class QualityField(serializers.ChoiceField):
    """One named enum in the schema for the quality of requests and responses."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Generation.Quality.values, **kwargs)


def quality_field() -> QualityField:
    return QualityField(required=False, help_text=QUALITY_HELP)


def variations_fields() -> tuple[serializers.IntegerField, serializers.ChoiceField]:
    return (
        serializers.IntegerField(
            min_value=MIN_VARIATIONS,
            max_value=MAX_VARIATIONS,
            required=False,
            help_text="Render the first scene (or the plan as previews) with this many seeds, "
            "ranked by coherence; the generation waits (awaiting_choice) until one is chosen.",
        ),
        serializers.ChoiceField(
            choices=SCOPES,
            required=False,
            help_text='"first_scene" (default) or "plan" (the whole plan as previews).',
        ),
    )
