"""Clip continuation on hosted models (wan-2.7-i2v's ``first_clip``), and the registry facts that
issue 22 corrected, through the real client against the loopback server."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pipeline import media
from pipeline.providers.base import ProviderError, SceneRequest
from pipeline.providers.config import ReplicateConfig
from pipeline.providers.registry import (
    BUILTIN_MODELS,
    KLING_V21,
    MINIMAX_VIDEO_01,
    SEEDANCE_LITE,
    SEEDANCE_PRO,
    SEEDANCE_PRO_FAST,
    VEO_31_FAST,
    WAN_27_I2V,
    ModelRegistry,
)
from pipeline.providers.replicate import ReplicateProvider
from pipeline.providers.schema import (
    InputSchema,
    declares_input,
    disagreements,
    input_component,
)
from tests.doubles.model_schemas import SERVED_MODELS
from tests.doubles.replicate_server import ReplicateServer
from tests.pipeline.providers.test_replicate_provider import poll
from tests.support.frames import write_frame_png
from tests.support.replicate import TOKEN, make_server

SPECS = {spec.name: spec for spec in BUILTIN_MODELS}
CREATE_BY_MODEL = "POST /v1/models/{owner}/{name}/predictions"
CLIP_FPS = 12


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with make_server() as srv:
        yield srv


@pytest.fixture
def provider(server) -> ReplicateProvider:
    return ReplicateProvider(
        ReplicateConfig(api_token=TOKEN, base_url=server.base_url, backoff_seconds=0.01)
    )


def write_clip(path: Path, seconds: float) -> Path:
    """A clip that brightens frame by frame, so its last frame is unlike its first."""
    count = round(seconds * CLIP_FPS)
    frames = (
        np.full((72, 128, 3), (40 + 200 * i // max(count - 1, 1), 60, 200), dtype=np.uint8)
        for i in range(count)
    )
    media.encode(frames, path, fps=CLIP_FPS)
    return path


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "previous.mp4", 2.5)


def live_schema(model: str) -> dict:
    """The model's Input component as sync_models stores it (from the double's published copy)."""
    return input_component(copy.deepcopy(SERVED_MODELS[model].openapi_schema))


def wan27(**overrides) -> SceneRequest:
    values = {
        "model": WAN_27_I2V,
        "prompt": "the lantern drifts over the lake",
        "duration": 5.0,
        "seed": 77,
        "width": 1280,
        "height": 720,
        "fps": 24,
    }
    values.update(overrides)
    return SceneRequest(**values)


def requests_sent(server: ReplicateServer) -> int:
    return sum(server.requests_by_endpoint.values())


# ------------------------------------------------------------------------------------------------
# Registry fixes (issue 22; /work/shared/reference/replicate.md, model table)


def test_veo_31_fast_declares_no_reference_images():
    assert "reference_images" not in SPECS[VEO_31_FAST].input_names
    assert not declares_input(live_schema(VEO_31_FAST), "reference_images")


def test_a_reference_image_sent_to_veo_31_fast_is_dropped_silently(server):
    """What the double does with it is what Replicate does: accept and ignore, no 422."""
    response = httpx.post(
        f"{server.base_url}/v1/models/{VEO_31_FAST}/predictions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"input": {"prompt": "p", "reference_images": ["https://example.com/a.png"]}},
    )

    assert response.status_code == 201
    assert server.dropped_inputs[response.json()["id"]] == ["reference_images"]


def test_seedance_pro_durations_are_3_to_12_and_lite_keeps_2_to_12():
    assert SPECS[SEEDANCE_PRO].allowed_durations == tuple(float(s) for s in range(3, 13))
    assert SPECS[SEEDANCE_LITE].allowed_durations == tuple(float(s) for s in range(2, 13))
    assert SPECS[SEEDANCE_PRO].rendered_seconds(2.0) == 3.0  # and billed as 3 s
    assert SPECS[SEEDANCE_LITE].rendered_seconds(2.0) == 2.0


def test_seedance_pro_gets_3_for_a_2_second_scene_and_the_double_refuses_2(provider, server):
    submission = provider.submit(
        SceneRequest(
            model=SEEDANCE_PRO, prompt="p", duration=2.0, seed=1, width=128, height=72, fps=12
        )
    )
    assert server.prediction(submission.prediction_id)["input"]["duration"] == 3

    refused = httpx.post(
        f"{server.base_url}/v1/models/{SEEDANCE_PRO}/predictions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"input": {"prompt": "p", "duration": 2}},
    )
    assert refused.status_code == 422
    assert "greater than or equal to 3" in refused.json()["detail"]


def test_confirmed_prices_say_so_and_minimax_stays_unconfirmed():
    for model in (KLING_V21, SEEDANCE_PRO_FAST, VEO_31_FAST):
        assert "UNCONFIRMED" not in SPECS[model].price_note, model
        assert "confirmed" in SPECS[model].price_note, model
    assert SPECS[MINIMAX_VIDEO_01].price_note.startswith("UNCONFIRMED")
    assert SPECS[WAN_27_I2V].price_note.startswith("UNCONFIRMED")
    assert SPECS[KLING_V21].prices == {"standard": 0.05, "pro": 0.09}
    assert SPECS[SEEDANCE_PRO_FAST].prices == {"480p": 0.015, "720p": 0.025, "1080p": 0.06}
    assert SPECS[VEO_31_FAST].prices == {"*": 0.10}


@pytest.mark.parametrize("model", [SEEDANCE_PRO_FAST, VEO_31_FAST, SEEDANCE_LITE, KLING_V21])
def test_registry_default_resolution_is_the_schema_default(model):
    spec = SPECS[model]
    default = live_schema(model)["properties"][spec.resolution_input]["default"]

    assert spec.default_resolution == default


# ------------------------------------------------------------------------------------------------
# wan-2.7-i2v registration and when a clip can be handed over


def test_wan_27_i2v_is_registered_with_what_the_reference_confirms():
    spec = ModelRegistry().get(WAN_27_I2V)

    assert (spec.seed_input, spec.first_frame_input, spec.last_frame_input) == (
        "seed",
        "first_frame",
        "last_frame",
    )
    assert spec.clip_input == "first_clip"
    assert spec.clip_seconds == (2.0, 10.0)
    assert spec.allowed_durations == tuple(float(s) for s in range(2, 16))
    assert spec.allowed_resolutions == ("720p", "1080p")
    assert {"audio", "negative_prompt", "enable_prompt_expansion"} <= spec.input_names
    assert spec.prices == {"720p": 0.10, "1080p": 0.15}
    assert disagreements(spec, InputSchema(live_schema(WAN_27_I2V))) == []


def test_a_clip_can_be_handed_over_only_when_a_stored_schema_declares_the_clip_input():
    spec = ModelRegistry().get(WAN_27_I2V)
    schema = live_schema(WAN_27_I2V)

    assert declares_input(schema, "first_clip") and not declares_input(None, "first_clip")
    assert spec.continues_clip(schema) is True
    assert spec.continues_clip(None) is False  # the registry's word is not enough
    without = copy.deepcopy(schema)
    without["properties"].pop("first_clip")
    assert spec.continues_clip(without) is False
    requiring_frame = copy.deepcopy(schema)
    requiring_frame["required"].append("first_frame")
    assert spec.continues_clip(requiring_frame) is False  # never together with first_frame
    # A model with no clip input never continues one, whatever its schema says.
    assert SPECS[SEEDANCE_LITE].continues_clip(live_schema(SEEDANCE_LITE)) is False
    assert spec.clip_fits(2.0) and spec.clip_fits(10.0)
    assert not spec.clip_fits(1.9) and not spec.clip_fits(10.5)


def test_a_scene_starts_from_one_thing_only(tmp_path, clip):
    frame = write_frame_png(tmp_path / "last.png")

    with pytest.raises(ValueError, match="at most one of init_image_path, init_clip_path"):
        wan27(init_image_path=frame, init_clip_path=clip)
    with pytest.raises(ValueError, match="at most one"):
        wan27(init_latent_path=tmp_path / "x.npy", init_clip_path=clip)


# ------------------------------------------------------------------------------------------------
# The clip on the wire


def test_the_clip_goes_on_first_clip_when_the_stored_schema_declares_it(provider, server, clip):
    submission = provider.submit(wan27(init_clip_path=clip, input_schema=live_schema(WAN_27_I2V)))

    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert submission.provider_input["first_clip"] == f"sha256:{digest}"
    sent = server.prediction(submission.prediction_id)["input"]
    assert "first_frame" not in sent
    header, _, encoded = sent["first_clip"].partition(",")
    assert header == "data:video/mp4;base64"
    assert hashlib.sha256(base64.b64decode(encoded)).hexdigest() == digest
    assert {k: v for k, v in sent.items() if k != "first_clip"} == {
        "prompt": "the lantern drifts over the lake",
        "duration": 5,
        "resolution": "720p",
        "seed": 77,
    }
    finished = server.wait_for(submission.prediction_id)
    assert finished["status"] == "succeeded", finished["error"]
    assert "Continuing first_clip" in finished["logs"]


def test_the_continued_clip_starts_where_the_previous_clip_ended(provider, server, clip, tmp_path):
    schema = live_schema(WAN_27_I2V)
    submission = provider.submit(wan27(init_clip_path=clip, input_schema=schema))
    continued = poll(provider, submission.prediction_id)
    first = media.first_frame(provider.fetch_output(continued, tmp_path / "out").video_path)

    rendered = first.astype(np.float32)
    ending = media.last_frame(clip).astype(np.float32)
    opening = media.first_frame(clip).astype(np.float32)
    assert rendered.shape == ending.shape
    assert np.abs(rendered - ending).mean() < np.abs(rendered - opening).mean() / 2


def test_a_large_clip_goes_through_the_files_api(server, clip):
    provider = ReplicateProvider(
        ReplicateConfig(api_token=TOKEN, base_url=server.base_url), data_uri_max_bytes=0
    )

    submission = provider.submit(wan27(init_clip_path=clip, input_schema=live_schema(WAN_27_I2V)))

    sent = server.prediction(submission.prediction_id)["input"]["first_clip"]
    assert sent.startswith(f"{server.base_url}/v1/files/")
    assert server.requests_by_endpoint["POST /v1/files"] == 1
    assert server.wait_for(submission.prediction_id)["status"] == "succeeded"


def test_without_a_stored_schema_a_clip_is_never_sent(provider, server, clip):
    with pytest.raises(ProviderError) as caught:
        provider.submit(wan27(init_clip_path=clip))

    assert caught.value.retryable is False
    assert "no stored schema declares its 'first_clip' input" in str(caught.value)
    assert requests_sent(server) == 0


def test_a_stored_schema_without_first_clip_never_gets_a_clip(provider, server, clip):
    schema = live_schema(WAN_27_I2V)
    schema["properties"].pop("first_clip")

    with pytest.raises(ProviderError, match="cannot continue a clip"):
        provider.submit(wan27(init_clip_path=clip, input_schema=schema))
    assert requests_sent(server) == 0


def test_a_model_without_a_clip_input_never_gets_a_clip(provider, server, clip):
    request = wan27(model=SEEDANCE_LITE, init_clip_path=clip, input_schema=None)

    with pytest.raises(ProviderError, match="it has no clip input"):
        provider.submit(request)
    assert requests_sent(server) == 0


def test_a_clip_outside_2_to_10_seconds_is_refused_before_sending(provider, server, tmp_path):
    short = write_clip(tmp_path / "short.mp4", 1.0)

    with pytest.raises(ProviderError, match=r"continues clips of 2-10 s; this one is 1\.00 s"):
        provider.submit(wan27(init_clip_path=short, input_schema=live_schema(WAN_27_I2V)))
    assert requests_sent(server) == 0


def test_without_a_clip_wan_27_continues_from_the_last_frame(provider, server, tmp_path):
    frame = write_frame_png(tmp_path / "last.png")

    submission = provider.submit(wan27(init_image_path=frame))

    sent = server.prediction(submission.prediction_id)["input"]
    assert sent["first_frame"].startswith("data:image/png;base64,")
    assert "first_clip" not in sent
    assert server.wait_for(submission.prediction_id)["status"] == "succeeded"


def test_a_wan_27_head_without_an_image_is_refused_before_sending(provider, server):
    with pytest.raises(ProviderError, match="requires first_frame"):
        provider.submit(wan27())
    assert requests_sent(server) == 0


# ------------------------------------------------------------------------------------------------
# The double refuses what the model refuses


@pytest.mark.parametrize("give", ["both", "neither", "short clip"])
def test_the_double_fails_what_wan_27_refuses(server, clip, tmp_path, give):
    frame = base64.b64encode(write_frame_png(tmp_path / "f.png").read_bytes()).decode()
    short = write_clip(tmp_path / "short.mp4", 1.0)
    as_uri = {
        "frame": f"data:image/png;base64,{frame}",
        "clip": f"data:video/mp4;base64,{base64.b64encode(clip.read_bytes()).decode()}",
        "short": f"data:video/mp4;base64,{base64.b64encode(short.read_bytes()).decode()}",
    }
    model_input = {
        "both": {"first_frame": as_uri["frame"], "first_clip": as_uri["clip"]},
        "neither": {},
        "short clip": {"first_clip": as_uri["short"]},
    }[give]

    created = httpx.post(
        f"{server.base_url}/v1/models/{WAN_27_I2V}/predictions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"input": {"prompt": "p", **model_input}},
    )

    assert created.status_code == 201  # the schema cannot say it; the model does, at run time
    finished = server.wait_for(created.json()["id"])
    assert finished["status"] == "failed"
    assert "first_clip" in finished["error"]
