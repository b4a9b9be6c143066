"""The loopback server speaks Replicate's API: bodies, statuses, lifecycle, switches, counters."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from pipeline.providers.registry import KLING_V21, MINIMAX_VIDEO_01, SEEDANCE_LITE, WAN_I2V_FAST
from tests.doubles import replicate_server
from tests.doubles.replicate_server import ReplicateServer, version_id
from tests.support.replicate import TOKEN, make_server

COMMUNITY = "acme/community-video"

PREDICTION_KEYS = {
    "id",
    "model",
    "version",
    "input",
    "logs",
    "output",
    "data_removed",
    "error",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "urls",
    "metrics",
}


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with make_server() as srv:
        yield srv


@pytest.fixture
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def client(server) -> replicate.Client:
    return replicate.Client(api_token=TOKEN, base_url=server.base_url)


def create(http: httpx.Client, model: str = SEEDANCE_LITE, **model_input) -> httpx.Response:
    body = {"input": {"prompt": "a lighthouse at night", **model_input}}
    return http.post(f"/v1/models/{model}/predictions", json=body)


def test_missing_token_gets_the_reference_401_body(server):
    response = httpx.post(f"{server.base_url}/v1/models/{SEEDANCE_LITE}/predictions", json={})

    assert response.status_code == 401
    assert response.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass an authentication token",
        "status": 401,
    }


def test_wrong_token_is_401_through_the_client(server):
    wrong = replicate.Client(api_token="r8_nope", base_url=server.base_url)

    with pytest.raises(ReplicateError) as caught:
        wrong.predictions.get("anything")

    assert caught.value.status == 401
    assert caught.value.title == "Unauthenticated"


def test_unknown_model_and_prediction_get_the_reference_404_body(http):
    assert create(http, "nobody/nothing").json() == {"detail": "Not found.", "status": 404}
    response = http.get("/v1/predictions/doesnotexist")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "status": 404}


def test_an_undeclared_input_is_dropped_silently_as_replicate_does(http, server):
    response = create(http, MINIMAX_VIDEO_01, seed=7, colour="red")

    assert response.status_code == 201
    prediction_id = response.json()["id"]
    assert server.dropped_inputs[prediction_id] == ["colour", "seed"]
    data = server.wait_for(prediction_id)
    assert data["status"] == "succeeded"
    assert "Using seed: 7" not in data["logs"]  # the model never saw it


def test_seedless_switch_serves_a_schema_without_seed(http, server):
    server.seedless_models = {SEEDANCE_LITE}

    response = create(http, SEEDANCE_LITE, seed=7)

    assert response.status_code == 201
    assert server.dropped_inputs[response.json()["id"]] == ["seed"]
    schema = http.get(f"/v1/models/{SEEDANCE_LITE}").json()["latest_version"]["openapi_schema"]
    assert "seed" not in schema["components"]["schemas"]["Input"]["properties"]


def test_strict_switch_answers_the_pre_2026_additional_property_422(http, server):
    server.strict_models = {MINIMAX_VIDEO_01}

    response = create(http, MINIMAX_VIDEO_01, seed=7)

    assert response.status_code == 422
    assert response.json() == {
        "title": "Input validation failed",
        "status": 422,
        "detail": "- input: Additional property seed is not allowed",
        "invalid_fields": [
            {
                "type": "additional_property_not_allowed",
                "field": "input",
                "description": "Additional property seed is not allowed",
            }
        ],
    }
    assert server.prediction_ids() == []


def test_missing_required_inputs_get_the_reference_422(http, server):
    response = create(http, WAN_I2V_FAST)

    assert response.status_code == 422
    assert response.json() == {
        "title": "Input validation failed",
        "status": 422,
        "detail": "- input: image is required",
        "invalid_fields": [
            {"type": "required", "field": "input", "description": "image is required"}
        ],
    }
    assert create(http, KLING_V21).json()["detail"] == "- input: start_image is required"
    assert server.prediction_ids() == []


def test_enum_type_and_range_errors_are_422(http):
    image = "https://example.invalid/start.png"
    detail = create(http, KLING_V21, start_image=image, duration=7).json()["detail"]
    assert detail == "- input.duration: duration must be one of the following: 5, 10"
    detail = create(http, SEEDANCE_LITE, seed="seven").json()["detail"]
    assert detail == "- input.seed: Invalid type. Expected: integer, given: string"
    detail = create(http, WAN_I2V_FAST, image=image, num_frames=200).json()["detail"]
    assert detail == "- input.num_frames: Must be less than or equal to 121"
    detail = create(http, SEEDANCE_LITE, duration=1).json()["detail"]
    assert detail == "- input.duration: Must be greater than or equal to 2"
    assert (
        "prompt is required"
        in http.post(f"/v1/models/{SEEDANCE_LITE}/predictions", json={"input": {}}).json()["detail"]
    )


def test_official_models_report_a_hidden_version_that_cannot_be_sent_back(http, server):
    created = create(http, SEEDANCE_LITE).json()
    assert created["version"] == "hidden"

    for version in ("hidden", version_id(SEEDANCE_LITE), "0" * 64):
        response = http.post(
            "/v1/predictions", json={"version": version, "input": {"prompt": "again"}}
        )
        assert response.status_code == 422
        assert response.json()["title"] == "Invalid version or not permitted"
    assert server.prediction_ids() == [created["id"]]


def test_a_community_model_runs_by_its_version_and_reports_it(http, server):
    version = version_id(COMMUNITY)
    response = http.post("/v1/predictions", json={"version": version, "input": {"prompt": "x"}})

    assert response.status_code == 201
    assert response.json()["model"] == COMMUNITY
    assert response.json()["version"] == version


def test_each_model_renders_at_its_own_frame_rate(http, server):
    minimax = server.wait_for(create(http, MINIMAX_VIDEO_01).json()["id"])
    seedance = server.wait_for(create(http, SEEDANCE_LITE).json()["id"])

    assert "at 25 fps" in minimax["logs"]
    assert "at 24 fps" in seedance["logs"]


def test_429_switch_answers_the_reference_body_with_retry_after(http, server):
    server.configure(burst_429=1, retry_after=1)

    response = create(http)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "title": "Request was throttled.",
        "detail": "Request was throttled. Expected available in 1 second.",
        "status": 429,
    }
    assert create(http).status_code == 201


def test_client_never_retries_a_throttled_create(client, server):
    server.burst_429 = 1

    with pytest.raises(ReplicateError) as caught:
        client.predictions.create(model=SEEDANCE_LITE, input={"prompt": "x"})

    assert caught.value.status == 429
    assert server.requests_by_endpoint["POST /v1/models/{owner}/{name}/predictions"] == 1


def test_lifecycle_and_prediction_shape(http, server):
    server.latency = 0.3
    created = create(http, seed=99)
    assert created.status_code == 201
    prediction_id = created.json()["id"]
    assert set(created.json()) >= PREDICTION_KEYS
    assert created.json()["status"] == "starting"

    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = http.get(f"/v1/predictions/{prediction_id}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "succeeded":
            break
        time.sleep(0.05)

    assert seen == ["starting", "processing", "succeeded"]
    data = http.get(f"/v1/predictions/{prediction_id}").json()
    assert set(data) >= PREDICTION_KEYS
    assert data["urls"]["get"] == f"{server.base_url}/v1/predictions/{prediction_id}"
    assert data["urls"]["cancel"].endswith(f"/v1/predictions/{prediction_id}/cancel")
    assert data["version"] == "hidden"
    assert data["metrics"]["predict_time"] > 0
    assert data["data_removed"] is False
    assert "Using seed: 99" in data["logs"]
    video = httpx.get(data["output"])  # outputs are public URLs, no token
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"


def test_client_parses_predictions_and_models(client, server):
    prediction = client.predictions.create(model=SEEDANCE_LITE, input={"prompt": "x", "seed": 1})
    server.wait_for(prediction.id)
    prediction = client.predictions.get(prediction.id)
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, str)

    model = client.models.get(WAN_I2V_FAST)
    assert model.latest_version is not None
    component = model.latest_version.openapi_schema["components"]["schemas"]["Input"]
    assert {"seed", "image", "num_frames"} <= set(component["properties"])
    assert set(component["required"]) == {"prompt", "image"}

    by_version = client.predictions.create(version=version_id(COMMUNITY), input={"prompt": "y"})
    assert by_version.model == COMMUNITY


def test_file_upload_round_trip(client, server):
    uploaded = client.files.create(io.BytesIO(b"\x89PNG fake"), filename="f.png")

    assert uploaded.size == 9
    assert uploaded.urls["get"] == f"{server.base_url}/v1/files/{uploaded.id}"
    assert client.files.get(uploaded.id).name == "f.png"


def test_fail_switches(http, server):
    server.fail_next = 1
    failed = server.wait_for(create(http).json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == server.fail_message
    assert failed["output"] is None

    ok = server.wait_for(create(http).json()["id"])
    assert ok["status"] == "succeeded"

    server.configure(fail_rate=1.0, fail_message="NSFW content detected")
    assert server.wait_for(create(http).json()["id"])["error"] == "NSFW content detected"


def test_bad_first_frame_fails_the_prediction(http, server):
    data = server.wait_for(
        create(http, image="data:image/png;base64,bm90IGFuIGltYWdl").json()["id"]
    )

    assert data["status"] == "failed"
    assert "could not read image" in data["error"]


def test_cancel_ends_a_running_prediction(http, server):
    server.latency = 5.0
    prediction_id = create(http).json()["id"]

    response = http.post(f"/v1/predictions/{prediction_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert server.wait_for(prediction_id, timeout=1)["status"] == "canceled"


def test_latency_range_is_respected(http, server):
    server.latency = (0.1, 0.2)
    started = time.monotonic()

    data = server.wait_for(create(http).json()["id"])

    assert time.monotonic() - started >= 0.2  # two phases of at least 0.1 s
    assert data["status"] == "succeeded"


def test_fault_injection_is_deterministic_for_a_seed():
    def statuses() -> list[int]:
        srv = make_server(error_rate_5xx=0.3, rate_429=0.2, rng_seed=42).start()
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=srv.base_url, headers=headers) as c:
                return [c.get("/v1/predictions/none").status_code for _ in range(30)]
        finally:
            srv.stop()

    first, second = statuses(), statuses()
    assert first == second
    assert {429, 404} <= set(first)
    assert set(first) & {500, 502}


def test_counters_per_endpoint_prediction_and_tag(server):
    server.tag_fn = lambda model, model_input: model_input["prompt"].split(":")[0]
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        first = create(http, prompt="scene-1: a fox").json()["id"]
        create(http, prompt="scene-2: a lake")
        create(http, prompt="scene-2: a lake")
        http.get(f"/v1/predictions/{first}")
        http.get(f"/v1/predictions/{first}")

    assert server.created_by_tag == {"scene-1": 1, "scene-2": 2}
    assert server.created_by_model_prompt[(SEEDANCE_LITE, "scene-2: a lake")] == 2
    assert server.requests_by_prediction[first] == 3  # create + 2 GETs
    assert server.requests_by_endpoint["GET /v1/predictions/{id}"] == 2
    server.reset_counters()
    assert sum(server.requests_by_endpoint.values()) == 0


def test_unknown_switch_is_an_error(server):
    with pytest.raises(AttributeError):
        server.configure(latncy=1)


def test_dev_tool_runs_the_server_and_never_prints_its_secrets(capsys, monkeypatch):
    secret = "whsec_" + "A" * 44
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_very_secret_token_value")
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", secret)

    code = replicate_server.main(["--port", "0", "--latency", "0.1,0.2", "--exit-after", "0.2"])

    out = capsys.readouterr().out
    assert code == 0
    assert "REPLICATE_BASE_URL=http://127.0.0.1:" in out
    assert SEEDANCE_LITE in out
    assert "r8_very_secret_token_value" not in out
    assert secret not in out
    assert "(26 chars)" in out  # the token, masked
