"""Serializers: what the API returns, and the documented shape of what it accepts.

Request bodies are validated by the services, not by DRF fields: DRF would quietly coerce
``"2"`` into a 2.0-second duration or ``"true"`` into a boolean, where the domain refuses wrong
types. The request serializers below describe the bodies in the OpenAPI schema; ``read_body``
only checks the envelope (an object, known keys, storable text) before the service sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from coherence_project.conf import config
from generations.api.iterate_serializers import QualityField, quality_field, variations_fields
from generations.media.links import generation_file_url, scene_file_url, video_url
from generations.models import SEED_MAX, Generation, Scene
from generations.services.plans import DEFAULT_MODELS, MAX_PROMPT_CHARACTERS
from generations.services.render_settings import SEED_MODES
from pipeline.images import MAX_IMAGE_BYTES

# --- reading request bodies -----------------------------------------------------------------------


def _unstorable_text(value: Any, path: str) -> dict[str, list[str]]:
    """Strings no database text column can hold: NUL (PostgreSQL) and lone surrogates (any)."""
    if isinstance(value, str):
        if "\x00" in value:
            return {path: ["Text must not contain NUL (\\u0000) characters."]}
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return {path: ["Text must be valid Unicode (no lone surrogate escapes)."]}
        return {}
    errors: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            errors.update(_unstorable_text(key, child) or _unstorable_text(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(_unstorable_text(item, f"{path}.{index}" if path else str(index)))
    return errors


_SCENE_IMAGE_PART = re.compile(r"^scenes\.(\d+)\.image$")


def _upload_bytes(upload: Any, name: str) -> bytes:
    if getattr(upload, "size", 0) > MAX_IMAGE_BYTES:
        raise serializers.ValidationError({name: ["The image is larger than 10 MB."]})
    return upload.read()


def read_multipart(data: Any, files: Any, *, allowed: Iterable[str]) -> dict[str, Any]:
    """A multipart create: the JSON body in a ``plan`` part, images as file parts named
    ``reference_image`` and ``scenes.N.image``. Refused with a 400 when anything else is sent."""
    extra = sorted(set(data) - {"plan"})
    if "plan" not in data or extra:
        raise serializers.ValidationError(
            {"plan": ["A multipart create sends the JSON body in one part named 'plan'."]}
        )
    try:
        body = read_body(json.loads(data["plan"]), allowed=allowed)
    except json.JSONDecodeError as exc:
        raise serializers.ValidationError({"plan": [f"Not valid JSON: {exc.msg}."]}) from None
    scenes = body.get("scenes")
    for name, upload in files.items():
        match = _SCENE_IMAGE_PART.match(name)
        if name == "reference_image":
            body["reference_image"] = _upload_bytes(upload, name)
        elif match and isinstance(scenes, list) and int(match.group(1)) < len(scenes):
            index = int(match.group(1))
            if isinstance(scenes[index], dict):
                scenes[index] = {**scenes[index], "image": _upload_bytes(upload, name)}
        else:
            raise serializers.ValidationError(
                {name: ["Unknown file part; use reference_image or scenes.N.image."]}
            )
    return body


def read_body(data: Any, *, allowed: Iterable[str]) -> dict[str, Any]:
    """The request body as a dict of known keys; raises a 400 for anything else."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: ["The request body must be a JSON object."]}
        )
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise serializers.ValidationError(
            {name: [f"Unknown field; allowed: {', '.join(allowed)}."] for name in unknown}
        )
    errors = _unstorable_text(data, "")
    if errors:
        raise serializers.ValidationError(errors)
    return dict(data)


# --- request shapes (documentation of what the services accept) ---------------------------------


class SceneInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(
        max_length=MAX_PROMPT_CHARACTERS, help_text="What the scene shows."
    )
    duration = serializers.FloatField(
        min_value=config.MIN_SCENE_SECONDS,
        max_value=config.MAX_SCENE_SECONDS,
        help_text="Seconds; a JSON number (strings are refused).",
    )
    continuous = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Carries on from the previous scene (latent reuse). Never on the first scene.",
    )
    image = serializers.CharField(
        required=False,
        help_text="The scene's start image: a base64 data URI or an https URL (or, in a "
        "multipart create, a file part named `scenes.N.image`). PNG, JPEG or WebP, at most 10 MB "
        "and 4096 px a side. Models that require an image (wan-2.2-i2v-fast, kling-v2.1) need one "
        "for every chain head, here or as `reference_image`.",
    )


class CoherenceSettingsSerializer(serializers.Serializer):
    seed_control = serializers.BooleanField(
        required=False, help_text="One seed for the whole generation, sent to every scene."
    )
    latent_reuse = serializers.BooleanField(
        required=False, help_text="Continuous scenes start from the previous scene's end."
    )
    seed_mode = serializers.ChoiceField(
        choices=SEED_MODES,
        required=False,
        help_text='"shared": every scene gets the seed; "offset": seed + scene index.',
    )
    color_match = serializers.BooleanField(
        required=False, help_text="Match later scenes' colours to scene 1 before stitching."
    )


class GenerationCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    scenes = SceneInputSerializer(many=True, min_length=1, max_length=config.MAX_SCENES)
    coherence_settings = CoherenceSettingsSerializer(
        required=False,
        help_text="Partial settings, laid over the defaults. Unknown keys are an error.",
    )
    provider = serializers.ChoiceField(
        choices=sorted(DEFAULT_MODELS),
        required=False,
        help_text="Defaults to the server's configured provider.",
    )
    model = serializers.CharField(
        required=False,
        help_text="A model of the provider (e.g. `coherence/local-dna`, "
        "`bytedance/seedance-1-lite`); defaults to the provider's default model.",
    )
    seed = serializers.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        required=False,
        allow_null=True,
        help_text="Fix the generation's seed; omitted or null = drawn once when it starts.",
    )
    quality = quality_field()
    variations, variations_scope = variations_fields()
    reference_image = serializers.CharField(
        required=False,
        help_text="Start image of every chain head without its own `image`: a base64 data URI, "
        "an https URL, or a file part of that name in a multipart create.",
    )
    webhook = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="An https URL that is sent this generation's events, signed with your "
        "secret (`POST /api/webhook-secret/` first). Docs: api.md, 'Webhooks to you'.",
    )
    webhook_events_filter = serializers.ListField(
        child=serializers.ChoiceField(choices=["started", "scene_completed", "completed"]),
        required=False,
        min_length=1,
        help_text="Which events to send; omitted: all of them.",
    )

    FIELDS = (
        "title",
        "scenes",
        "coherence_settings",
        "provider",
        "model",
        "seed",
        "quality",
        "variations",
        "variations_scope",
        "reference_image",
        "webhook",
        "webhook_events_filter",
    )


# Part names besides `plan` and `reference_image`: a scene's start image, scenes.<index>.image.
SCENE_IMAGE_PART = {
    "type": "string",
    "format": "binary",
    "description": "A file part named `scenes.<N>.image` (N the 0-based scene index): that "
    "scene's start image. Any other part name is a 400.",
}


class GenerationCreateMultipartSerializer(serializers.Serializer):
    """A create with image files: the JSON body in a part named ``plan``, files beside it."""

    plan = GenerationCreateSerializer(
        help_text="The whole JSON body of a create (as `application/json` would send it), in one "
        "part; its `reference_image` / `scenes[].image` may still be data URIs or https URLs."
    )
    reference_image = serializers.FileField(
        required=False,
        help_text="Start image of every chain head without its own: PNG, JPEG or WebP, at most "
        "10 MB and 4096 px a side.",
    )


class GenerationCreateMultipartSchema(OpenApiSerializerExtension):
    """The multipart body's file parts have names of a pattern (``scenes.N.image``), which the
    schema says as additionalProperties (a serializer cannot declare them)."""

    target_class = GenerationCreateMultipartSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": SCENE_IMAGE_PART}


class RegenerateSerializer(serializers.Serializer):
    seed = serializers.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        required=False,
        allow_null=True,
        help_text="Omitted: the source's seed. A number: that seed. null: a fresh seed.",
    )
    title = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Default: the source's."
    )

    FIELDS = ("seed", "title")


# --- responses ----------------------------------------------------------------------------------


# Several serializers have a field named "status" with different choices; each gets its own named
# enum component (drf-spectacular would otherwise invent hashed names like "Status2b5Enum").


def _enum(values: Iterable[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


@extend_schema_field(_enum(Generation.Status.values), component_name="GenerationStatus")
class GenerationStatusField(serializers.CharField):
    pass


@extend_schema_field(_enum(Scene.Status.values), component_name="SceneStatus")
class SceneStatusField(serializers.CharField):
    pass


HEALTH_STATUSES = ("ok", "fail")


@extend_schema_field(_enum(HEALTH_STATUSES), component_name="HealthStatus")
class HealthStatusField(serializers.CharField):
    pass


WEBHOOK_OUTCOMES = ("queued", "duplicate", "unknown prediction", "ignored")


@extend_schema_field(_enum(WEBHOOK_OUTCOMES), component_name="WebhookOutcome")
class WebhookOutcomeField(serializers.CharField):
    pass


def absolute(context: dict[str, Any], url: str | None) -> str | None:
    request = context.get("request")
    return request.build_absolute_uri(url) if url and request is not None else url


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
        serializers.ChoiceField(choices=[m for m in Scene.LatentReuse.values if m], allow_null=True)
    )
    def get_method(self, scene: Scene) -> str | None:
        return scene.latent_reuse_method or None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_source_scene_index(self, scene: Scene) -> int | None:
        return scene.latent_source.index if scene.latent_source_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_conditioning_sha256(self, scene: Scene) -> str | None:
        return scene.conditioning_sha256 or None


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
    seed_value = serializers.IntegerField(
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
    coherence_settings = CoherenceSettingsSerializer(read_only=True)
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


# Fields marked ``required=False`` exist in one report version only ("coherence-v1" reports stored
# before v2 keep their own keys); a missing one is left out of the response, never an error.
class SceneScoreSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    style_to_first = serializers.FloatField()
    style_to_prev = serializers.FloatField(allow_null=True)
    style_mean = serializers.FloatField()
    stability = serializers.FloatField()
    flicker = serializers.FloatField(
        required=False, help_text="Brightness jitter after motion compensation (0.1 = 10 %)."
    )
    noise = serializers.FloatField(
        required=False,
        help_text="1 - motion-compensated similarity of consecutive frames (0 = all explained).",
    )
    internal_cuts = serializers.ListField(
        child=serializers.FloatField(),
        required=False,
        help_text="Seconds from the clip's start of every cut found inside the scene.",
    )
    duration = serializers.FloatField(required=False)
    flicker_mae = serializers.FloatField(required=False, help_text="coherence-v1 only.")
    lab_mean = serializers.ListField(child=serializers.FloatField())
    lab_std = serializers.ListField(child=serializers.FloatField())
    frames = serializers.IntegerField()


class BoundaryScoreSerializer(serializers.Serializer):
    from_index = serializers.IntegerField()
    to_index = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=["continuous", "cut"], allow_null=True, help_text="What the plan asked for."
    )
    continuous = serializers.BooleanField(allow_null=True, help_text="The plan's flag.")
    verdict = serializers.ChoiceField(
        choices=["continuous", "cut"],
        required=False,
        help_text="What the pixels show, whatever the plan says (continuity vs. the threshold).",
    )
    failed_handover = serializers.BooleanField(
        required=False, help_text="Planned continuous but seen as a cut."
    )
    continuity = serializers.FloatField()
    similarity = serializers.FloatField(required=False)
    structure = serializers.FloatField(required=False)
    chroma_shift = serializers.FloatField(required=False)
    motion_consistency = serializers.FloatField(required=False)
    motion = serializers.DictField(child=serializers.FloatField(), required=False)
    ssim = serializers.FloatField(required=False, help_text="coherence-v1 only.")
    color_distance = serializers.FloatField(required=False, help_text="coherence-v1 only.")
    style_similarity = serializers.FloatField()


class CoherenceReportSerializer(serializers.Serializer):
    score = serializers.FloatField(help_text="0..1, the weighted mean of the components.")
    style = serializers.FloatField()
    continuity = serializers.FloatField(
        allow_null=True, help_text="null when the video has a single scene."
    )
    stability = serializers.FloatField()
    weights = serializers.DictField(child=serializers.FloatField())
    scenes = SceneScoreSerializer(many=True)
    boundaries = BoundaryScoreSerializer(many=True)
    failed_handovers = serializers.IntegerField(required=False)
    threshold = serializers.FloatField(required=False, help_text="Continuity below it is a cut.")
    notes = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()


class CoherenceSerializer(serializers.Serializer):
    generation = serializers.UUIDField()
    score = serializers.FloatField()
    report = CoherenceReportSerializer()


class HealthSerializer(serializers.Serializer):
    status = HealthStatusField()
    database = serializers.CharField(
        required=False, help_text='Staff only: "ok", or why the database is unreachable.'
    )
    broker = serializers.CharField(
        required=False, help_text='Staff only: "ok", or why the task broker is unreachable.'
    )


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
