"""Bad input is a 400 naming each bad field, in the documented error shape, and stores nothing."""

from __future__ import annotations

import json

import pytest

from generations.models import SEED_MAX, Generation, IdempotencyKey, Scene

pytestmark = pytest.mark.django_db

SCENE = {"prompt": "a lighthouse at night", "duration": 1.0}


def body(**overrides):
    return {"title": "t", "scenes": [SCENE, {**SCENE, "continuous": True}], **overrides}


def assert_nothing_stored():
    assert Generation.objects.count() == 0
    assert Scene.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


def post_json(api, text: str):
    return api.post("/api/generations/", text, content_type="application/json")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param(
            body(coherence_settings={"seed_contol": False}),
            "coherence_settings.seed_contol",
            id="unknown-setting",
        ),
        pytest.param(
            body(coherence_settings={"seed_control": "yes"}),
            "coherence_settings.seed_control",
            id="setting-wrong-type",
        ),
        pytest.param(
            body(coherence_settings={"seed_mode": "random"}),
            "coherence_settings.seed_mode",
            id="setting-bad-choice",
        ),
        pytest.param(
            body(coherence_settings=["seed_control"]),
            "coherence_settings",
            id="settings-not-object",
        ),
        pytest.param(body(scenes=[]), "scenes", id="empty-plan"),
        pytest.param(body(scenes=None), "scenes", id="null-plan"),
        pytest.param(body(scenes="a fox"), "scenes", id="plan-not-list"),
        pytest.param(body(scenes=[SCENE] * 51), "scenes", id="over-50-scenes"),
        pytest.param(
            body(scenes=[{**SCENE, "continuous": True}]),
            "scenes.0.continuous",
            id="continuous-first-scene",
        ),
        pytest.param(
            body(scenes=[SCENE, {**SCENE, "continuous": "yes"}]),
            "scenes.1.continuous",
            id="continuous-not-bool",
        ),
        pytest.param(
            body(scenes=[SCENE, {**SCENE, "duration": -1}]),
            "scenes.1.duration",
            id="negative-duration",
        ),
        pytest.param(
            body(scenes=[{**SCENE, "duration": "2"}]), "scenes.0.duration", id="duration-as-string"
        ),
        pytest.param(
            body(scenes=[{**SCENE, "duration": 10**400}]),
            "scenes.0.duration",
            id="duration-huge-int",
        ),
        pytest.param(
            body(scenes=[{**SCENE, "duration": 31}]), "scenes.0.duration", id="duration-too-long"
        ),
        pytest.param(
            body(scenes=[{**SCENE, "prompt": "   "}]), "scenes.0.prompt", id="blank-prompt"
        ),
        pytest.param(
            body(scenes=[{**SCENE, "prompt": 7}]), "scenes.0.prompt", id="prompt-not-text"
        ),
        pytest.param(
            body(scenes=[{**SCENE, "prompt": "x" * 2001}]), "scenes.0.prompt", id="prompt-too-long"
        ),
        pytest.param(
            body(scenes=[{**SCENE, "camera": "pan"}]), "scenes.0", id="unknown-scene-field"
        ),
        pytest.param(body(scenes=["a fox"]), "scenes.0", id="scene-not-object"),
        pytest.param(body(seed=-1), "seed", id="seed-negative"),
        pytest.param(body(seed=SEED_MAX + 1), "seed", id="seed-over-2^31-1"),
        pytest.param(body(seed=1.5), "seed", id="seed-fraction"),
        pytest.param(body(seed="42"), "seed", id="seed-as-string"),
        pytest.param(body(seed=True), "seed", id="seed-boolean"),
        pytest.param(
            body(seed=5, coherence_settings={"seed_control": False}),
            "seed",
            id="seed-with-control-off",
        ),
        pytest.param(body(model="acme/imaginary-1"), "model", id="unknown-model"),
        pytest.param(body(model=["coherence/local-dna"]), "model", id="model-not-text"),
        pytest.param(body(provider="runway"), "provider", id="unknown-provider"),
        pytest.param(body(provider={"name": "local"}), "provider", id="provider-not-text"),
        pytest.param(
            body(provider="replicate", model="coherence/local-dna"),
            "model",
            id="model-of-other-provider",
        ),
        pytest.param(body(title="x" * 201), "title", id="title-too-long"),
        pytest.param(body(variations_scope="plan"), "variations", id="scope-without-variations"),
        pytest.param(body(title=None), "title", id="title-null"),
        pytest.param(body(colour="red"), "colour", id="unknown-top-level-field"),
        pytest.param(body(title="nul\x00byte"), "title", id="nul-in-title"),
        pytest.param(
            body(scenes=[{**SCENE, "prompt": "nul\x00"}]), "scenes.0.prompt", id="nul-in-prompt"
        ),
    ],
)
def test_bad_body_is_a_400_with_the_field_and_nothing_is_stored(api, payload, field):
    response = api.post("/api/generations/", payload, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["detail"] == "Invalid input."
    assert field in response.json()["errors"], response.json()
    assert all(isinstance(m, str) for m in response.json()["errors"][field])
    assert_nothing_stored()


def test_every_bad_field_is_reported_at_once(api):
    payload = body(
        scenes=[{**SCENE, "duration": -1}, {"prompt": "", "duration": 1}],
        coherence_settings={"nope": 1},
        seed=-5,
    )

    errors = api.post("/api/generations/", payload, format="json").json()["errors"]

    assert {
        "scenes.0.duration",
        "scenes.1.prompt",
        "coherence_settings.nope",
        "seed",
    } <= set(errors)


def test_error_messages_are_readable(api):
    payload = body(scenes=[SCENE, {**SCENE, "duration": -1}])

    errors = api.post("/api/generations/", payload, format="json").json()["errors"]

    assert errors == {"scenes.1.duration": ["The duration must be between 0.5 and 30.0 seconds."]}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"title": "x", "scenes": [', id="truncated"),
        pytest.param("{'title': 'x'}", id="single-quotes"),
        pytest.param('{"scenes": [{"prompt": "x", "duration": NaN}]}', id="nan"),
        pytest.param('{"scenes": [{"prompt": "x", "duration": 1}]', id="unclosed"),
        pytest.param("\xff\xfe", id="not-utf8"),
    ],
)
def test_malformed_json_is_a_400(api, text):
    response = post_json(api, text)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert_nothing_stored()


@pytest.mark.parametrize("text", ["[]", '["a fox"]', '"a fox"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_a_400(api, text):
    response = post_json(api, text)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "non_field_errors": ["The request body must be a JSON object."]
    }
    assert_nothing_stored()


def test_an_empty_object_asks_for_scenes(api):
    response = post_json(api, "{}")

    assert response.status_code == 400
    assert response.json()["errors"] == {"scenes": ["The plan needs at least one scene."]}


def test_a_lone_surrogate_is_a_400_not_a_database_error(api):
    text = json.dumps(body(scenes=[SCENE])).replace("a lighthouse", "\\ud800 lighthouse")

    response = post_json(api, text)

    assert response.status_code == 400
    assert "scenes.0.prompt" in response.json()["errors"]
    assert_nothing_stored()


def test_url_encoded_form_data_is_refused_with_415(api):
    response = api.post(
        "/api/generations/", "title=x", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert "detail" in response.json()
    assert_nothing_stored()


def test_multipart_without_a_plan_part_is_a_400_that_says_so(api):
    response = api.post("/api/generations/", {"title": "x"})  # multipart

    assert response.status_code == 400
    assert response.json()["errors"]["plan"] == [
        "A multipart create sends the JSON body in one part named 'plan'."
    ]
    assert_nothing_stored()
