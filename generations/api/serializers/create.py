"""Request shapes of create and regenerate: the documentation of what the services accept.

Request bodies are validated by the services, not by DRF fields: DRF would quietly coerce
``"2"`` into a 2.0-second duration or ``"true"`` into a boolean, where the domain refuses wrong
types. These serializers describe the bodies in the OpenAPI schema (and their ``FIELDS`` are the
keys ``generations.api.parsers.read_body`` lets through).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from coherence_project.conf import config
from generations.api.serializers.iterate import quality_field, variations_fields
from generations.models import SEED_MAX
from generations.services.plans import DEFAULT_MODELS, MAX_PROMPT_CHARACTERS
from generations.services.render_settings import SEED_MODES
from generations.services.request import API_FIELDS


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

    # The body's fields are the request's (generations.services.request): one list, held to the
    # declared fields above by tests/generations/test_request.py.
    FIELDS = API_FIELDS


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
