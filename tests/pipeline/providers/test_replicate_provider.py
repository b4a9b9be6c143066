"""ReplicateProvider through the real ``replicate`` client against the loopback server."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import math
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline import media
from pipeline.providers.base import PredictionState, PredictionStatus, ProviderError, SceneRequest
from pipeline.providers.config import ReplicateConfig
from pipeline.providers.registry import (
    BUILTIN_MODELS,
    KLING_V21,
    MINIMAX_VIDEO_01,
    SEEDANCE_LITE,
    SEEDANCE_PRO,
    SEEDANCE_PRO_FAST,
    VEO_31_FAST,
    WAN_I2V_FAST,
    ModelRegistry,
)
from pipeline.providers.replicate import AUTH_MESSAGE, ReplicateProvider, prediction_state
from pipeline.providers.replicate_webhooks import verify_replicate_webhook
from pipeline.providers.schema import fingerprint, input_component
from tests.doubles.replicate_server import ReplicateServer, version_id
from tests.support.frames import write_frame_png
from tests.support.replicate import TOKEN, make_server
from tests.support.webhooks import WebhookReceiver

CREATE_BY_MODEL = "POST /v1/models/{owner}/{name}/predictions"
COMMUNITY = "acme/community-video"


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with make_server() as srv:
        yield srv


@pytest.fixture
def configure(server):
    """A factory for providers pointed at the loopback server: ``ReplicateConfig`` fields and
    ``ReplicateProvider`` keywords (``models``, ``sleep``, ...) may be given."""
    config_fields = {field.name for field in dataclasses.fields(ReplicateConfig)}

    def build(**options) -> ReplicateProvider:
        config = ReplicateConfig(
            **{
                "api_token": TOKEN,
                "base_url": server.base_url,
                "max_retries": 5,
                "backoff_seconds": 0.01,
                **{name: value for name, value in options.items() if name in config_fields},
            }
        )
        keywords = {name: value for name, value in options.items() if name not in config_fields}
        return ReplicateProvider(config, **keywords)

    return build


@pytest.fixture
def provider(configure) -> ReplicateProvider:
    return configure()


@pytest.fixture
def frame_png(tmp_path) -> Path:
    return write_frame_png(tmp_path / "last.png")


def scene(model: str = SEEDANCE_LITE, **overrides) -> SceneRequest:
    values = {
        "model": model,
        "prompt": "a red fox runs through snow",
        "duration": 5.0,
        "seed": 1234,
        "width": 128,
        "height": 72,
        "fps": 12,
    }
    values.update(overrides)
    return SceneRequest(**values)


def poll(
    provider: ReplicateProvider, prediction_id: str, interval: float = 0.02
) -> PredictionState:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = provider.fetch(prediction_id)
        if state.status.is_terminal:
            return state
        time.sleep(interval)
    raise AssertionError(f"prediction {prediction_id} did not finish")


# ------------------------------------------------------------------------------------------------
# Input mapping


def test_seed_model_gets_seed_and_no_image_without_init_frame(provider, server):
    submission = provider.submit(scene())

    sent = server.prediction(submission.prediction_id)["input"]
    assert sent == {
        "prompt": "a red fox runs through snow",
        "duration": 5,
        "resolution": "480p",
        "seed": 1234,
    }
    assert submission.provider_input == sent
    assert submission.seed_applied is True
    assert submission.seed_note == ""
    assert submission.model_version == "hidden"  # reported as is, never sent back
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 1
    assert server.requests_by_endpoint["POST /v1/predictions"] == 0
    assert server.created_by_model_prompt[(SEEDANCE_LITE, "a red fox runs through snow")] == 1


def test_first_frame_goes_as_data_uri_and_is_recorded_as_sha256(provider, server, frame_png):
    submission = provider.submit(scene(init_image_path=frame_png))

    digest = hashlib.sha256(frame_png.read_bytes()).hexdigest()
    assert submission.provider_input["image"] == f"sha256:{digest}"
    sent = server.prediction(submission.prediction_id)["input"]["image"]
    header, _, encoded = sent.partition(",")
    assert header == "data:image/png;base64"
    assert hashlib.sha256(base64.b64decode(encoded)).hexdigest() == digest
    finished = server.wait_for(submission.prediction_id)
    assert finished["status"] == "succeeded"
    assert "Conditioning on image" in finished["logs"]


def test_large_first_frame_goes_through_the_files_api(configure, server, frame_png):
    provider = configure(data_uri_max_bytes=0)  # every frame counts as "large"

    submission = provider.submit(scene(init_image_path=frame_png))

    digest = hashlib.sha256(frame_png.read_bytes()).hexdigest()
    assert submission.provider_input["image"] == f"sha256:{digest}"
    sent = server.prediction(submission.prediction_id)["input"]["image"]
    assert sent.startswith(f"{server.base_url}/v1/files/")
    assert server.requests_by_endpoint["POST /v1/files"] == 1
    assert server.wait_for(submission.prediction_id)["status"] == "succeeded"


def test_model_without_seed_input_is_never_sent_one(provider, server, frame_png):
    submission = provider.submit(scene(MINIMAX_VIDEO_01, init_image_path=frame_png))

    sent = server.prediction(submission.prediction_id)["input"]
    assert "seed" not in sent
    assert sent["first_frame_image"].startswith("data:image/png;base64,")
    assert set(sent) == {"prompt", "first_frame_image"}
    assert submission.seed_applied is False
    assert submission.seed_note == f"model {MINIMAX_VIDEO_01} has no seed input"
    assert server.responses_by_status[422] == 0


def test_kling_duration_snaps_to_allowed_value_and_resolution_maps_to_mode(
    provider, server, frame_png
):
    submission = provider.submit(
        scene(KLING_V21, duration=3.0, width=1920, height=1080, init_image_path=frame_png)
    )

    sent = server.prediction(submission.prediction_id)["input"]
    assert {k: v for k, v in sent.items() if k != "start_image"} == {
        "prompt": "a red fox runs through snow",
        "duration": 5,
        "mode": "pro",
    }
    assert sent["start_image"].startswith("data:image/png;base64,")
    assert submission.seed_applied is False
    assert "no seed input" in submission.seed_note


def test_wan_duration_becomes_a_frame_count(provider, server, frame_png):
    submission = provider.submit(
        scene(WAN_I2V_FAST, duration=6.0, width=1280, height=720, init_image_path=frame_png)
    )

    sent = server.prediction(submission.prediction_id)["input"]
    assert sent["num_frames"] == 97  # 6 s * 16 fps + 1, on the 4n+1 grid from 81
    assert sent["frames_per_second"] == 16
    assert sent["resolution"] == "720p"
    assert sent["seed"] == 1234


@pytest.mark.parametrize(
    ("model", "planned", "rendered"),
    [
        (SEEDANCE_LITE, 1.0, 2.0),
        (SEEDANCE_LITE, 7.4, 7.0),
        (KLING_V21, 7.5, 10.0),
        (WAN_I2V_FAST, 1.0, 5.0),
        (MINIMAX_VIDEO_01, 2.0, 6.0),
    ],
)
def test_rendered_seconds_is_what_the_model_will_bill(model, planned, rendered):
    spec = next(spec for spec in BUILTIN_MODELS if spec.name == model)
    assert spec.rendered_seconds(planned) == rendered


def test_no_seed_requested_means_none_sent_and_no_note(provider, server):
    submission = provider.submit(scene(SEEDANCE_PRO, seed=None))

    assert "seed" not in server.prediction(submission.prediction_id)["input"]
    assert submission.seed_applied is False
    assert submission.seed_note == ""
    # The server drew a random seed and, Cog-style, only mentions it in the logs.
    assert "Using seed:" in server.wait_for(submission.prediction_id)["logs"]


def test_model_without_image_input_cannot_continue_a_scene(configure, server, frame_png):
    provider = configure(
        models=ModelRegistry({"acme/text-only": {"provider": "replicate", "seed_input": "seed"}})
    )

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene("acme/text-only", init_image_path=frame_png))

    assert caught.value.retryable is False
    assert "no first-frame image input" in str(caught.value)
    assert sum(server.requests_by_endpoint.values()) == 0


def test_latent_is_refused_for_hosted_models(provider, server, tmp_path):
    with pytest.raises(ProviderError, match="cannot start from a latent"):
        provider.submit(scene(init_latent_path=tmp_path / "final.npy"))
    assert sum(server.requests_by_endpoint.values()) == 0


def test_a_required_input_the_scene_lacks_is_refused_before_any_request(provider, server):
    for model, field in ((WAN_I2V_FAST, "image"), (KLING_V21, "start_image")):
        with pytest.raises(ProviderError) as caught:
            provider.submit(scene(model))
        assert caught.value.retryable is False
        assert f"requires {field}" in str(caught.value)
    assert sum(server.requests_by_endpoint.values()) == 0


def test_every_official_create_goes_by_model_name(provider, server):
    """Scenes 2+ used to be created with the version scene 1 reported: "hidden" -> 422."""
    first = provider.submit(scene())
    second = provider.submit(scene(prompt="the fox leaps over a log"))

    assert first.model_version == second.model_version == "hidden"
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 2
    assert server.requests_by_endpoint["POST /v1/predictions"] == 0
    assert server.responses_by_status[422] == 0


def test_a_community_model_pinned_in_the_registry_runs_by_that_version(configure, server):
    pinned = version_id(COMMUNITY)
    models = ModelRegistry(
        {
            f"{COMMUNITY}:{pinned}": {
                "provider": "replicate",
                "seed_input": "seed",
                "first_frame_input": "init_image",
                "duration_input": "seconds",
            }
        }
    )

    submission = configure(models=models).submit(scene(COMMUNITY, duration=3.0))

    assert server.requests_by_endpoint["POST /v1/predictions"] == 1
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 0
    assert submission.model_version == pinned
    assert server.prediction(submission.prediction_id)["input"]["seconds"] == 3


def test_a_registry_pin_must_be_a_64_hex_version_id(settings):
    from generations.lifecycle.engine import model_registry

    settings.COHERENCE = {
        **settings.COHERENCE,
        "EXTRA_MODELS": {f"{COMMUNITY}:hidden": {"provider": "replicate"}},
    }
    with pytest.raises(ValueError, match="64-hex"):
        model_registry()


def test_webhook_url_is_sent_with_completed_filter(provider, server):
    submission = provider.submit(scene(webhook_url="https://coherence.example/api/hooks/"))

    data = server.prediction(submission.prediction_id)
    assert data["webhook"] == "https://coherence.example/api/hooks/"
    assert data["webhook_events_filter"] == ["completed"]


# ------------------------------------------------------------------------------------------------
# Errors and retries


def live_schema(server: ReplicateServer, model: str) -> dict:
    """The model's Input component as sync_models stores it."""
    return input_component(
        server._model_json(server.model(model))["latest_version"]["openapi_schema"]
    )


def test_without_a_stored_schema_a_dropped_seed_goes_unnoticed(provider, server):
    """Why schemas must be stored: Replicate accepts and ignores a seed it does not declare."""
    server.seedless_models = {SEEDANCE_PRO}

    submission = provider.submit(scene(SEEDANCE_PRO))

    assert server.responses_by_status[422] == 0
    assert server.dropped_inputs[submission.prediction_id] == ["seed"]
    assert submission.seed_applied is True  # the registry believed; only the schema knows


def test_with_a_stored_schema_seed_applied_is_the_truth(provider, server):
    server.seedless_models = {SEEDANCE_PRO}
    schema = live_schema(server, SEEDANCE_PRO)

    submission = provider.submit(scene(SEEDANCE_PRO, input_schema=schema))

    sent = server.prediction(submission.prediction_id)["input"]
    assert "seed" not in sent
    assert server.dropped_inputs[submission.prediction_id] == []
    assert submission.seed_applied is False
    assert submission.seed_note == f"model {SEEDANCE_PRO}'s input schema declares no 'seed' input"
    assert submission.schema_fingerprint == fingerprint(schema)


def test_with_a_stored_schema_only_declared_inputs_are_sent(provider, server, frame_png):
    schema = live_schema(server, SEEDANCE_PRO_FAST)  # no last frame, no reference images
    schema["properties"].pop("resolution")

    submission = provider.submit(scene(SEEDANCE_PRO_FAST, input_schema=schema))

    sent = server.prediction(submission.prediction_id)["input"]
    assert set(sent) == {"prompt", "duration", "seed"}
    assert submission.dropped_inputs == ("resolution",)
    assert submission.provider_input == sent


def test_schema_enum_decides_the_duration(provider, server, frame_png):
    schema = live_schema(server, VEO_31_FAST)

    submission = provider.submit(scene(VEO_31_FAST, duration=5.2, input_schema=schema))

    assert server.prediction(submission.prediction_id)["input"]["duration"] == 6


def test_seed_rejected_by_a_strict_model_is_retried_without_seed(provider, server):
    """Defensive only: cog before 2026-04 answered 422 to an undeclared seed."""
    server.seedless_models = {SEEDANCE_PRO}
    server.strict_models = {SEEDANCE_PRO}

    submission = provider.submit(scene(SEEDANCE_PRO))

    assert submission.seed_applied is False
    assert "seed" not in submission.provider_input
    assert submission.seed_note == (
        f"model {SEEDANCE_PRO} rejected seed: - input: Additional property seed is not allowed"
    )
    assert server.responses_by_status[422] == 1
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 2
    assert server.prediction_ids() == [submission.prediction_id]


def test_429_on_create_waits_retry_after_then_succeeds(configure, server):
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    provider = configure(sleep=sleep)
    server.burst_429 = 1
    started = time.monotonic()

    submission = provider.submit(scene())

    assert sleeps == [1.0]
    assert time.monotonic() - started >= 1.0
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 2
    assert server.prediction_ids() == [submission.prediction_id]


def test_retry_after_is_bounded(configure, server):
    sleeps: list[float] = []
    provider = configure(sleep=sleeps.append, max_retry_after=0.2)
    server.configure(burst_429=1, retry_after=3600)

    provider.submit(scene())

    assert sleeps == [0.2]


def test_5xx_burst_on_create_is_retried_with_backoff(configure, server):
    sleeps: list[float] = []
    provider = configure(sleep=sleeps.append)
    server.burst_5xx = 3

    submission = provider.submit(scene())

    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]  # exponential
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 4
    assert server.prediction_ids() == [submission.prediction_id]


def test_5xx_on_fetch_is_retried(provider, server):
    submission = provider.submit(scene())
    server.burst_5xx = 2

    state = poll(provider, submission.prediction_id)

    assert state.status == PredictionStatus.SUCCEEDED


def test_5xx_that_never_ends_is_a_retryable_error(configure, server):
    provider = configure(max_retries=2, sleep=lambda _s: None)
    server.burst_5xx = 100

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene())

    assert caught.value.retryable is True
    assert caught.value.status in (500, 502)
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 3
    assert server.prediction_ids() == []


def test_network_error_before_sending_is_retried_then_reported(configure, server):
    server.stop()  # nothing listens on the port any more: connection refused
    provider = configure(max_retries=2, sleep=lambda _s: None)

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene())

    assert caught.value.retryable is True
    assert "network error" in str(caught.value)


def test_other_422_fails_with_the_api_detail(configure, server, frame_png):
    # The server's kling schema (a newer version, say) allows 10 s only: the registry sends 5.
    kling = server.model(KLING_V21)
    schema = copy.deepcopy(kling.openapi_schema)
    schema["components"]["schemas"]["duration"]["enum"] = [10]
    server.add_model(dataclasses.replace(kling, openapi_schema=schema))

    with pytest.raises(ProviderError) as caught:
        configure().submit(scene(KLING_V21, init_image_path=frame_png))

    assert caught.value.retryable is False
    assert caught.value.status == 422
    assert "duration must be one of the following: 10" in str(caught.value)
    assert server.requests_by_endpoint[CREATE_BY_MODEL] == 1


def test_bad_token_is_a_clear_non_retryable_error(configure, server):
    provider = configure(api_token="r8_wrong")

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene())

    assert str(caught.value) == AUTH_MESSAGE
    assert caught.value.retryable is False
    assert caught.value.status == 401


def test_unknown_model_is_a_clear_non_retryable_error(configure):
    provider = configure(models=ModelRegistry({"acme/not-on-replicate": {"provider": "replicate"}}))

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene("acme/not-on-replicate"))

    assert caught.value.retryable is False
    assert caught.value.status == 404
    assert "acme/not-on-replicate" in str(caught.value)


def test_model_missing_from_registry_fails_before_any_request(provider, server):
    with pytest.raises(ProviderError, match="Unknown model"):
        provider.submit(scene("nobody/nothing"))
    assert sum(server.requests_by_endpoint.values()) == 0


# ------------------------------------------------------------------------------------------------
# Completion, outputs, cancel


def test_output_is_downloaded_and_is_a_valid_mp4(provider, server, tmp_path):
    submission = provider.submit(scene())
    state = poll(provider, submission.prediction_id)

    fetched = provider.fetch_output(state, tmp_path / "clips")

    info = media.probe(fetched.video_path)
    assert (info.width, info.height, info.codec) == (128, 72, "h264")
    assert info.frame_count == 24  # 1 s (the server's short render option) at seedance's 24 fps
    assert state.predict_time is not None and state.predict_time > 0
    assert state.extra["version"] == "hidden"
    assert not list((tmp_path / "clips").glob(".*.part"))


def test_list_output_is_understood(provider, server, tmp_path):
    server.list_output_models = {MINIMAX_VIDEO_01}
    submission = provider.submit(scene(MINIMAX_VIDEO_01))

    state = poll(provider, submission.prediction_id)

    assert isinstance(server.prediction(submission.prediction_id)["output"], list)
    assert state.output_url and state.output_url.endswith("/output.mp4")
    assert media.probe(provider.fetch_output(state, tmp_path).video_path).frame_count == 25


def test_continuing_from_a_last_frame_starts_the_next_clip_on_it(provider, server, tmp_path):
    first = poll(provider, provider.submit(scene()).prediction_id)
    clip = provider.fetch_output(first, tmp_path / "a").video_path
    last = tmp_path / "last.png"
    media.save_png(media.last_frame(clip), last)

    follow = scene(prompt="the fox leaps over a log", init_image_path=last)
    continued = poll(provider, provider.submit(follow).prediction_id)
    fresh = poll(
        provider, provider.submit(dataclasses.replace(follow, init_image_path=None)).prediction_id
    )

    target = media.load_png(last).astype(np.float32)
    continued_first = media.first_frame(provider.fetch_output(continued, tmp_path / "b").video_path)
    fresh_first = media.first_frame(provider.fetch_output(fresh, tmp_path / "c").video_path)
    continued_error = np.abs(continued_first.astype(np.float32) - target).mean()
    fresh_error = np.abs(fresh_first.astype(np.float32) - target).mean()
    assert continued_error < fresh_error / 2


def test_failed_prediction_shows_failed_with_error(provider, server, tmp_path):
    server.fail_next = 1
    submission = provider.submit(scene())

    state = poll(provider, submission.prediction_id)

    assert state.status == PredictionStatus.FAILED
    assert state.error == server.fail_message
    assert state.output_url is None
    with pytest.raises(ProviderError, match="has no output"):
        provider.fetch_output(state, tmp_path)


def test_cancel(provider, server):
    server.latency = 5.0
    submission = provider.submit(scene())

    provider.cancel(submission.prediction_id)

    state = provider.fetch(submission.prediction_id)
    assert state.status == PredictionStatus.CANCELED
    assert server.requests_by_endpoint["POST /v1/predictions/{id}/cancel"] == 1


def test_fetch_and_cancel_of_unknown_prediction_are_clear_errors(provider):
    for call in (provider.fetch, provider.cancel):
        with pytest.raises(ProviderError) as caught:
            call("doesnotexist")
        assert caught.value.status == 404
        assert caught.value.retryable is False


def test_expired_output_is_a_clear_error(provider, server, tmp_path):
    gone = PredictionState(
        prediction_id="old",
        status=PredictionStatus.SUCCEEDED,
        output_url=f"{server.base_url}/files/old/output.mp4",
    )

    with pytest.raises(ProviderError) as caught:
        provider.fetch_output(gone, tmp_path)

    assert caught.value.retryable is False
    assert "about an hour" in str(caught.value)


# ------------------------------------------------------------------------------------------------
# Requests per prediction: polling vs webhook


def test_requests_per_prediction_polling_vs_webhook(configure, server, tmp_path, record_property):
    """A prediction that takes ~1.2 s, polled every 0.2 s, against one completed webhook."""
    provider = configure()
    server.latency = 0.6  # per phase: starting -> processing -> done
    poll_interval = 0.2

    polled = provider.submit(scene(prompt="polled"))
    state = poll(provider, polled.prediction_id, interval=poll_interval)
    provider.fetch_output(state, tmp_path / "polled")
    polling_requests = server.requests_by_prediction[polled.prediction_id]

    with WebhookReceiver() as receiver:
        hooked = provider.submit(scene(prompt="hooked", webhook_url=receiver.url))
        delivery = receiver.wait_for(1)[0]
        payload = verify_replicate_webhook(
            headers=delivery.headers, body=delivery.body, secret=server.webhook_secret
        )
        hooked_state = prediction_state(payload)
        provider.fetch_output(hooked_state, tmp_path / "hooked")
    webhook_requests = server.requests_by_prediction[hooked.prediction_id]

    created = datetime.fromisoformat(state.extra["created_at"].replace("Z", "+00:00"))
    completed = datetime.fromisoformat(state.extra["completed_at"].replace("Z", "+00:00"))
    lifetime = (completed - created).total_seconds()
    # prediction.wait() polls every 0.5 s: 1 create + a GET per 0.5 s of lifetime + the download.
    client_wait_estimate = 1 + math.ceil(lifetime / 0.5) + 1
    print(
        f"\nHTTP requests per prediction ({lifetime:.1f}s lifetime): "
        f"polling every {poll_interval}s = {polling_requests}, webhook = {webhook_requests}; "
        f"client prediction.wait() would be ~{client_wait_estimate}; "
        f"a 180 s hosted prediction polled every {poll_interval}s would be "
        f"~{2 + math.ceil(180 / poll_interval)}, with a webhook still 2"
    )
    record_property("requests_polling", polling_requests)
    record_property("requests_webhook", webhook_requests)

    assert hooked_state.status == PredictionStatus.SUCCEEDED
    assert webhook_requests == 2  # 1 create + 1 download, no GETs at all
    assert server.requests_by_endpoint["GET /v1/predictions/{id}"] == polling_requests - 2
    assert polling_requests >= 2 + 4  # create + download + several GETs
    assert len(receiver.received) == 1  # events filter: completed only


def test_a_create_that_timed_out_is_never_sent_again(provider, monkeypatch):
    """The prediction may exist already: a second create could bill a second video."""
    import httpx
    import replicate.prediction

    calls = []

    def timed_out(self, *args, **kwargs):
        calls.append(kwargs)
        raise httpx.ReadTimeout("the server did not answer in time")

    # The client builds a new Predictions namespace on every access: patch the class.
    monkeypatch.setattr(replicate.prediction.Predictions, "create", timed_out)

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene())

    assert len(calls) == 1
    assert caught.value.retryable is False
    assert "may have been created anyway" in str(caught.value)


def test_a_gateway_timeout_on_create_is_never_sent_again(provider, monkeypatch):
    import replicate.prediction
    from replicate.exceptions import ReplicateError

    calls = []

    def gateway_timeout(self, *args, **kwargs):
        calls.append(kwargs)
        raise ReplicateError(title="Gateway Timeout", status=504, detail="upstream timed out")

    monkeypatch.setattr(replicate.prediction.Predictions, "create", gateway_timeout)

    with pytest.raises(ProviderError) as caught:
        provider.submit(scene())

    assert len(calls) == 1
    assert caught.value.retryable is False
