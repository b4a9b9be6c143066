"""Hosted generation as the real Replicate API behaves: the real client against the loopback
double (official models report "hidden", undeclared inputs are dropped silently, required inputs
are enforced), with live schemas synced first as an operator would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from generations.models import Generation, HostedModelSchema, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.providers.registry import MINIMAX_VIDEO_01, SEEDANCE_LITE, WAN_I2V_FAST
from tests.doubles.replicate_server import ReplicateServer
from tests.support.frames import write_frame_png
from tests.support.replicate import polled_replicate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]

CREATES = ("POST /v1/models/{owner}/{name}/predictions", "POST /v1/predictions")

# Scene 2 continues scene 1; scene 3 starts a new chain.
THREE_SCENES = [
    {"prompt": "a red fox runs through snow", "duration": 1.0, "continuous": False},
    {"prompt": "the fox leaps over a log", "duration": 1.0, "continuous": True},
    {"prompt": "a quiet lake at dawn", "duration": 1.0, "continuous": False},
]


@pytest.fixture
def server(settings, media_root) -> Iterator[ReplicateServer]:
    with polled_replicate(settings) as srv:
        settings.COHERENCE = {**settings.COHERENCE, "EXTRA_MODELS": {}}
        yield srv


@pytest.fixture
def synced(server) -> ReplicateServer:
    """Every hosted model's live schema fetched and stored (``manage.py sync_models``)."""
    call_command("sync_models", stdout=io.StringIO())
    server.reset_counters()
    return server


@pytest.fixture
def reference_png(tmp_path) -> bytes:
    return write_frame_png(tmp_path / "reference.png", width=160, height=90).read_bytes()


def scenes_of(generation: Generation) -> list[Scene]:
    return list(generation.scenes.order_by("index"))


def accepted_creates(server: ReplicateServer) -> int:
    return len(server.prediction_ids())


def test_sync_models_stores_every_hosted_schema_and_finds_the_registry_true(server):
    out = io.StringIO()

    call_command("sync_models", stdout=out)

    stored = {row.model: row for row in HostedModelSchema.objects.all()}
    assert {SEEDANCE_LITE, MINIMAX_VIDEO_01, WAN_I2V_FAST} <= set(stored)
    wan = stored[WAN_I2V_FAST]
    assert set(wan.input_schema["required"]) == {"prompt", "image"}
    assert wan.input_schema["properties"]["resolution"]["enum"] == ["480p", "720p"]  # ref resolved
    assert len(wan.fingerprint) == 64 and wan.disagreements == []
    assert "DISAGREES" not in out.getvalue()
    assert server.requests_by_endpoint["GET /v1/models/{owner}/{name}"] == len(stored)


def test_sync_models_reports_disagreements_and_exits_1(server):
    server.seedless_models = {SEEDANCE_LITE}
    out = io.StringIO()

    with pytest.raises(CommandError) as exited:
        call_command("sync_models", SEEDANCE_LITE, stdout=out)

    assert exited.value.returncode == 1
    assert str(exited.value) == "1 of 1 model(s) disagree with the registry"
    assert "seed: the registry uses it, the schema does not declare it" in out.getvalue()


@pytest.mark.parametrize(
    ("model", "with_reference", "takes_seed"),
    [(SEEDANCE_LITE, False, True), (MINIMAX_VIDEO_01, False, False), (WAN_I2V_FAST, True, True)],
)
def test_three_scenes_one_accepted_create_each(
    synced, media_root, reference_png, model, with_reference, takes_seed
):
    reference = reference_png if with_reference else None

    generation = create_generation(
        GenerationRequest(
            scenes=THREE_SCENES, provider="replicate", model=model, reference_image=reference
        )
    )

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    scenes = scenes_of(generation)
    # Exactly one accepted create per scene, none refused, none by version.
    assert accepted_creates(synced) == 3
    assert sum(synced.requests_by_endpoint[e] for e in CREATES) == 3
    assert synced.requests_by_endpoint["POST /v1/predictions"] == 0
    assert synced.responses_by_status[422] == 0
    fingerprint = HostedModelSchema.objects.get(model=model).fingerprint
    for scene in scenes:
        sent = synced.prediction(scene.prediction_id)["input"]
        assert synced.dropped_inputs[scene.prediction_id] == []  # only declared inputs sent
        assert ("seed" in sent) is takes_seed
        assert scene.seed_applied is takes_seed
        assert scene.recipe["schema_fingerprint"] == fingerprint
        assert scene.recipe["reported_version"] == "hidden"
    # The stitched video has every frame, at the house rate, whatever rate the model rendered.
    info = media.probe(Path(media_root) / generation.video.name)
    assert info.frame_count == sum(s.frame_count for s in scenes)
    assert round(info.fps) == generation.fps
    assert generation.estimated_cost is not None and generation.estimated_cost > 0
    assert generation.cost is not None and generation.cost > 0


def test_minimax_is_never_sent_a_seed_and_says_so(synced):
    generation = create_generation(
        GenerationRequest(scenes=THREE_SCENES, provider="replicate", model=MINIMAX_VIDEO_01)
    )

    generation.refresh_from_db()
    assert generation.seed is not None  # seed control is on…
    assert all(
        "seed" not in synced.prediction(s.prediction_id)["input"] for s in scenes_of(generation)
    )
    assert all(s.seed_applied is False for s in scenes_of(generation))
    assert [w for w in generation.warnings if MINIMAX_VIDEO_01 in w] == [
        f"Seed not applied: model {MINIMAX_VIDEO_01} has no seed input; its scenes are rendered "
        "without our seed."
    ]


def test_minimax_clips_at_25_fps_are_resampled_to_the_house_rate(synced, media_root):
    generation = create_generation(
        GenerationRequest(scenes=THREE_SCENES[:1], provider="replicate", model=MINIMAX_VIDEO_01)
    )

    generation.refresh_from_db()
    scene = scenes_of(generation)[0]
    assert "at 25 fps" in synced.prediction(scene.prediction_id)["logs"]
    clip = media.probe(Path(media_root) / scene.clip.name)
    assert round(clip.fps) == generation.fps != 25
    # 1 s rendered (the double's short option): 25 frames in, one second at the house rate out.
    assert clip.frame_count == generation.fps
    assert scene.cost == Decimal("0.5000")  # per clip, whatever its length


def test_wan_start_images_come_from_the_reference_and_the_previous_clip(
    synced, media_root, reference_png
):
    generation = create_generation(
        GenerationRequest(
            scenes=THREE_SCENES,
            provider="replicate",
            model=WAN_I2V_FAST,
            reference_image=reference_png,
        )
    )

    generation.refresh_from_db()
    first, second, third = scenes_of(generation)
    digest = generation.reference_image_sha256
    assert len(digest) == 64
    assert first.recipe["start_image"] == {"source": "reference", "sha256": digest}
    assert third.recipe["start_image"] == {"source": "reference", "sha256": digest}
    assert second.recipe["start_image"] is None
    assert second.handover_method == Scene.HandoverMethod.FIRST_FRAME
    assert first.provider_input["image"] == f"sha256:{digest}"
    assert second.provider_input["image"] == f"sha256:{second.handover_sha256}"
    # Per clip: $0.05 at 480p (the house 512x288 maps to 480p), three clips.
    assert generation.estimated_cost == Decimal("0.1500") == generation.cost


def test_wan_without_any_image_is_refused_at_create_and_nothing_is_created(synced):
    with pytest.raises(ValidationError) as refused:
        create_generation(
            GenerationRequest(scenes=THREE_SCENES, provider="replicate", model=WAN_I2V_FAST)
        )

    errors = refused.value.message_dict
    assert set(errors) == {"scenes.0.image", "scenes.2.image"}  # scene 2 continues scene 1
    assert errors["scenes.0.image"] == [
        f"Scene 1: model {WAN_I2V_FAST} requires 'image' (a start image); give this scene an "
        "image or the generation a reference_image."
    ]
    assert Generation.objects.count() == 0
    assert synced.prediction_ids() == []
    assert sum(synced.requests_by_endpoint.values()) == 0


def test_a_scene_image_of_its_own_wins_over_the_reference(synced, reference_png, tmp_path):
    own = write_frame_png(tmp_path / "own.png", width=96, height=54).read_bytes()
    plan = [{**THREE_SCENES[0], "image": own}, THREE_SCENES[2]]

    generation = create_generation(
        GenerationRequest(
            scenes=plan, provider="replicate", model=WAN_I2V_FAST, reference_image=reference_png
        )
    )

    first, second = scenes_of(generation)
    assert first.recipe["start_image"]["source"] == "scene"
    assert first.recipe["start_image"]["sha256"] == first.image_sha256
    assert second.recipe["start_image"]["source"] == "reference"


def test_a_plan_above_the_cost_cap_is_refused_with_the_estimate_and_the_cap(synced, settings):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_COST_USD": 0.10}

    with pytest.raises(ValidationError) as refused:
        create_generation(
            GenerationRequest(scenes=THREE_SCENES, provider="replicate", model=MINIMAX_VIDEO_01)
        )

    assert refused.value.message_dict["cost"] == [
        "The estimated cost is $1.50, above the cap of $0.10 per generation "
        "(COHERENCE_MAX_COST_USD); shorten the plan or raise the cap."
    ]
    assert Generation.objects.count() == 0


def test_a_schema_without_seed_makes_seed_applied_false_with_a_warning(server):
    server.seedless_models = {SEEDANCE_LITE}
    with pytest.raises(CommandError):  # it disagrees with the registry, and says so
        call_command("sync_models", SEEDANCE_LITE, stdout=io.StringIO())

    generation = create_generation(
        GenerationRequest(scenes=THREE_SCENES[:1], provider="replicate", model=SEEDANCE_LITE)
    )

    generation.refresh_from_db()
    scene = scenes_of(generation)[0]
    assert "seed" not in server.prediction(scene.prediction_id)["input"]
    assert scene.seed_applied is False
    assert any(SEEDANCE_LITE in w and "declares no 'seed'" in w for w in generation.warnings)


def test_regenerating_keeps_the_start_images_and_never_sends_the_reported_version(
    synced, reference_png
):
    from generations.services.reproduce import regenerate_generation

    source = create_generation(
        GenerationRequest(
            scenes=THREE_SCENES,
            provider="replicate",
            model=WAN_I2V_FAST,
            reference_image=reference_png,
        )
    )
    source.refresh_from_db()

    again = regenerate_generation(source=source)

    again.refresh_from_db()
    assert again.status == Generation.Status.SUCCEEDED, again.error
    assert again.seed == source.seed
    assert again.reference_image_sha256 == source.reference_image_sha256
    assert synced.requests_by_endpoint["POST /v1/predictions"] == 0  # never by version
    assert accepted_creates(synced) == 6
