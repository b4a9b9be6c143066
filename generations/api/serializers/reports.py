"""Response shape of a generation's coherence report (``GET /api/generations/{id}/coherence/``)."""

from __future__ import annotations

from rest_framework import serializers


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
