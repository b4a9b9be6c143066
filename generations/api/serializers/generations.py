"""Response shapes of a generation and its scenes (list, detail)."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generations.api.serializers.create import CoherenceSettingsSerializer
from generations.api.serializers.fields import GenerationStatusField, SceneStatusField, absolute
from generations.api.serializers.iterate import QualityField
from generations.media.links import generation_file_url, scene_file_url, video_url
from generations.models import Generation, Scene


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


class LatentReuseSerializer(serializers.Serializer):
    method = serializers.SerializerMethodField(
        help_text='The hand-over: "latent" (local and diffusers models: the final latent), '
        '"clip" (a hosted model continuing the previous clip), "first_frame" (the last frame as '
        "first-frame image), or null when the scene started fresh."
    )
    source_scene_index = serializers.SerializerMethodField(
        help_text="0-based index of the scene it continued from."
    )
    conditioning_sha256 = serializers.SerializerMethodField(
        help_text="SHA-256 of the latent, clip or frame the scene was handed."
    )

    @extend_schema_field(
        serializers.ChoiceField(
            choices=[m for m in Scene.HandoverMethod.values if m], allow_null=True
        )
    )
    def get_method(self, scene: Scene) -> str | None:
        return scene.handover_method or None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_source_scene_index(self, scene: Scene) -> int | None:
        return scene.handover_from.index if scene.handover_from_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_conditioning_sha256(self, scene: Scene) -> str | None:
        return scene.handover_sha256 or None


class SceneSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(read_only=True, help_text="1-based, as people count.")
    seed = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The seed sent to the model (null: none)."
    )
    seed_applied = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="Whether the model took the seed (false: it rejected it; null: none sent).",
    )
    latent_reuse = LatentReuseSerializer(source="*", read_only=True)
    recipe = serializers.JSONField(
        read_only=True, allow_null=True, help_text="The exact recipe, stored before submission."
    )
    provider_input = serializers.JSONField(
        read_only=True, allow_null=True, help_text="The exact input the provider accepted."
    )
    image_url = serializers.SerializerMethodField(help_text="The scene's own start image, or null.")
    clip_url = serializers.SerializerMethodField(help_text="The scene's clip (mp4), or null.")
    last_frame_url = serializers.SerializerMethodField(help_text="Its last frame (png), or null.")
    conditioning_frame_url = serializers.SerializerMethodField(
        help_text="The frame it was conditioned on (png), or null."
    )
    status = SceneStatusField(read_only=True)
    wall_seconds = serializers.FloatField(read_only=True, allow_null=True)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, scene: Scene) -> str | None:
        return absolute(self.context, scene_file_url(scene, "start-image"))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_clip_url(self, scene: Scene) -> str | None:
        return absolute(self.context, scene_file_url(scene, "clip"))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_last_frame_url(self, scene: Scene) -> str | None:
        return absolute(self.context, scene_file_url(scene, "last-frame"))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_conditioning_frame_url(self, scene: Scene) -> str | None:
        return absolute(self.context, scene_file_url(scene, "conditioning-frame"))

    class Meta:
        model = Scene
        fields = [
            "index",
            "number",
            "prompt",
            "duration",
            "continuous",
            "status",
            "seed",
            "seed_applied",
            "seed_note",
            "seed_override",
            "planned_duration",
            "latent_reuse",
            "recipe",
            "provider_input",
            "model_version",
            "prediction_id",
            "image_url",
            "image_sha256",
            "clip_url",
            "last_frame_url",
            "conditioning_frame_url",
            "frame_count",
            "attempts",
            "cost",
            "error",
            "submitted_at",
            "finished_at",
            "wall_seconds",
        ]
        read_only_fields = fields


class GenerationSummarySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:generation-detail")
    video_url = serializers.SerializerMethodField(
        help_text="Absolute URL of the final video (null until it has succeeded); answered only "
        "to who may see the generation.",
    )
    status = GenerationStatusField(read_only=True)
    # The model says ``seed`` (as Scene does); the API keeps its published name.
    seed_value = serializers.IntegerField(
        source="seed",
        read_only=True,
        allow_null=True,
        help_text="The generation's seed (null: seed control off, or not drawn yet).",
    )
    quality = QualityField(read_only=True)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_video_url(self, generation: Generation) -> str | None:
        return absolute(self.context, video_url(generation))

    class Meta:
        model = Generation
        fields = [
            "id",
            "url",
            "title",
            "status",
            "progress",
            "stage",
            "seed_value",
            "provider",
            "model",
            "coherence_score",
            "estimated_cost",
            "cost",
            "video_url",
            "source_generation",
            "quality",
            "variation_of",
            "variation_number",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class GenerationDetailSerializer(GenerationSummarySerializer):
    # The model says render_settings; the API keeps its published name.
    coherence_settings = CoherenceSettingsSerializer(source="render_settings", read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    wall_seconds = serializers.SerializerMethodField(
        help_text="Seconds from start to finish (null while it runs)."
    )
    scenes = SceneSerializer(many=True, read_only=True)
    reference_image_url = serializers.SerializerMethodField(
        help_text="The start image of every chain head that has none of its own, or null."
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_reference_image_url(self, generation: Generation) -> str | None:
        return absolute(self.context, generation_file_url(generation, "reference-image"))

    class Meta(GenerationSummarySerializer.Meta):
        fields = [
            *GenerationSummarySerializer.Meta.fields,
            "coherence_settings",
            "model_version",
            "width",
            "height",
            "fps",
            "frame_count",
            "reference_image_url",
            "reference_image_sha256",
            "warnings",
            "error",
            "updated_at",
            "started_at",
            "wall_seconds",
            "scenes",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_wall_seconds(self, generation: Generation) -> float | None:
        return _seconds_between(generation.started_at, generation.finished_at)
