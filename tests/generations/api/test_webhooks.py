"""The Replicate webhook receiver: verified, applied once, and only to the scene it names.

The end-to-end tests run hosted-model generations against the loopback Replicate server with a
webhook URL configured (so nothing polls), catch the signed deliveries it sends, and hand them to
the receiver through the test client.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from generations.models import Generation, Scene, WebhookDelivery
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers.registry import SEEDANCE_LITE
from pipeline.providers.replicate_webhooks import sign_webhook
from tests.doubles.replicate_server import ReplicateServer
from tests.support.replicate import TOKEN, make_server
from tests.support.webhooks import WebhookReceiver

# These tests spend (loopback) hosted-model money: the user holds the permission for it.
pytestmark = pytest.mark.usefixtures("user_may_use_hosted_models")

SECRET = "whsec_" + base64.b64encode(b"coherence-api-test-webhook-secret").decode()
URL = "/api/webhooks/replicate/"


def deliver(client, body: bytes, headers: dict[str, str]):
    return client.post(URL, body, content_type="application/json", headers=headers)


def signed(body: bytes, *, webhook_id: str = "msg_1", at: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    return sign_webhook(secret=SECRET, webhook_id=webhook_id, timestamp=timestamp, body=body)


def prediction(prediction_id: str, status: str = "succeeded", **fields) -> bytes:
    return json.dumps({"id": prediction_id, "status": status, **fields}).encode()


@pytest.fixture
def webhook_secret(settings) -> str:
    settings.REPLICATE_WEBHOOK_SECRET = SECRET
    return SECRET


# --- verification (no pipeline needed) ----------------------------------------------------------


@pytest.mark.django_db
class TestVerification:
    @pytest.fixture
    def running_scene(self, plan, user) -> Scene:
        generation = create_generation(
            GenerationRequest(scenes=plan[:1]), owner=user, enqueue=False
        )
        Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING)
        scene = generation.scenes.get()
        Scene.objects.filter(pk=scene.pk).update(status=Scene.Status.RUNNING, prediction_id="p-1")
        return scene

    def assert_untouched(self, scene: Scene) -> None:
        scene.refresh_from_db()
        assert scene.status == Scene.Status.RUNNING
        assert WebhookDelivery.objects.count() == 0

    def test_needs_no_credentials_and_no_csrf_token(self, webhook_secret, anonymous):
        anonymous.handler.enforce_csrf_checks = True
        body = prediction("nobody-knows-me")

        response = deliver(anonymous, body, signed(body))

        assert response.status_code == 200
        assert response.json() == {"status": "unknown prediction"}

    def test_a_wrong_signature_is_401_and_changes_nothing(
        self, webhook_secret, anonymous, running_scene
    ):
        body = prediction("p-1", status="failed", error="boom")
        tampered = prediction("p-1", status="failed", error="BOOM")

        response = deliver(anonymous, tampered, signed(body))

        assert response.status_code == 401
        assert response.json()["detail"].startswith("bad webhook signature")
        self.assert_untouched(running_scene)

    def test_a_stale_delivery_is_400_and_changes_nothing(
        self, webhook_secret, anonymous, running_scene
    ):
        body = prediction("p-1", status="failed", error="boom")

        response = deliver(anonymous, body, signed(body, at=int(time.time()) - 3600))

        assert response.status_code == 400
        assert response.json()["detail"].startswith("stale webhook")
        self.assert_untouched(running_scene)

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_a_missing_header_is_400(self, webhook_secret, anonymous, running_scene, missing):
        body = prediction("p-1", status="failed")
        headers = signed(body)
        del headers[missing]

        response = deliver(anonymous, body, headers)

        assert response.status_code == 400
        assert missing in response.json()["detail"]
        self.assert_untouched(running_scene)

    def test_a_signed_body_that_is_not_an_object_is_400(self, webhook_secret, anonymous):
        body = b"[1, 2]"

        assert deliver(anonymous, body, signed(body)).status_code == 400

    def test_an_overlong_webhook_id_is_400(self, webhook_secret, anonymous, running_scene):
        body = prediction("p-1", status="failed")

        response = deliver(anonymous, body, signed(body, webhook_id="m" * 129))

        assert response.status_code == 400
        self.assert_untouched(running_scene)

    def test_without_a_configured_secret_the_answer_is_503(self, settings, anonymous):
        settings.REPLICATE_WEBHOOK_SECRET = ""
        body = prediction("p-1")

        response = deliver(anonymous, body, signed(body))

        assert response.status_code == 503
        assert "REPLICATE_WEBHOOK_SECRET" in response.json()["detail"]

    def test_a_malformed_secret_is_503_not_500(self, settings, anonymous):
        settings.REPLICATE_WEBHOOK_SECRET = "not-a-whsec-secret"
        body = prediction("p-1")

        assert deliver(anonymous, body, signed(body)).status_code == 503

    def test_a_non_terminal_status_is_recorded_and_ignored(
        self, webhook_secret, anonymous, running_scene
    ):
        body = prediction("p-1", status="processing")

        response = deliver(anonymous, body, signed(body))

        assert response.json() == {"status": "ignored"}
        running_scene.refresh_from_db()
        assert running_scene.status == Scene.Status.RUNNING

    def test_a_failed_prediction_fails_its_scene_and_generation(
        self, webhook_secret, anonymous, running_scene
    ):
        body = prediction("p-1", status="failed", error="NSFW content detected")

        response = deliver(anonymous, body, signed(body))

        assert response.json() == {"status": "queued"}
        running_scene.refresh_from_db()
        assert running_scene.status == Scene.Status.FAILED
        assert "NSFW content detected" in running_scene.error
        generation = running_scene.generation
        generation.refresh_from_db()
        assert generation.status == Generation.Status.FAILED


# --- end to end against the loopback Replicate server -------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def replicate(settings, media_root, receiver, webhook_secret) -> Iterator[ReplicateServer]:
    """A loopback Replicate that signs with our secret and delivers to ``receiver``."""
    with make_server(webhook_secret=webhook_secret) as server:
        settings.REPLICATE_API_TOKEN = TOKEN
        settings.REPLICATE_BASE_URL = server.base_url
        settings.COHERENCE = {**settings.COHERENCE, "EXTRA_MODELS": {}}
        parts = urlsplit(receiver.url)
        settings.COHERENCE = {
            **settings.COHERENCE,
            "PUBLIC_URL": f"{parts.scheme}://{parts.netloc}",
        }
        yield server


def two_independent_scenes(client) -> Generation:
    plan = [
        {"prompt": "a red fox runs through snow", "duration": 2, "continuous": False},
        {"prompt": "a quiet lake at dawn", "duration": 2, "continuous": False},
    ]
    response = client.post(
        "/api/generations/",
        {"scenes": plan, "provider": "replicate", "model": SEEDANCE_LITE},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Generation.objects.get(pk=response.json()["id"])


def deliveries_by_scene(generation: Generation, receiver: WebhookReceiver) -> dict[int, dict]:
    """The completion webhook of each scene, as the loopback server sent it."""
    received = receiver.wait_for(generation.scenes.count())
    by_prediction = {json.loads(hook.body)["id"]: hook for hook in received}
    return {
        scene.index: by_prediction[scene.prediction_id]
        for scene in generation.scenes.order_by("index")
    }


def replay(client, hook):
    headers = {k: v for k, v in hook.headers.items() if k.lower().startswith("webhook-")}
    return deliver(client, hook.body, headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_webhook_completes_only_the_scene_it_names(api, anonymous, replicate, receiver):
    generation = two_independent_scenes(api)
    assert set(generation.scenes.values_list("status", flat=True)) == {Scene.Status.RUNNING}
    hooks = deliveries_by_scene(generation, receiver)

    response = replay(anonymous, hooks[0])

    assert response.status_code == 200
    assert response.json() == {"status": "queued"}
    first, second = generation.scenes.order_by("index")
    assert first.status == Scene.Status.SUCCEEDED and first.clip
    assert second.status == Scene.Status.RUNNING and not second.clip
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_the_last_webhook_finishes_the_generation(api, anonymous, replicate, receiver):
    generation = two_independent_scenes(api)
    hooks = deliveries_by_scene(generation, receiver)

    for index in (1, 0):
        assert replay(anonymous, hooks[index]).json() == {"status": "queued"}

    body = api.get(f"/api/generations/{generation.pk}/").json()
    assert body["status"] == "succeeded"
    assert body["video_url"].endswith(f"/api/generations/{generation.pk}/video")
    assert api.get(body["video_url"])["Content-Type"] == "video/mp4"
    assert [s["seed_applied"] for s in body["scenes"]] == [True, True]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_redelivered_webhook_changes_nothing_after_the_first(api, anonymous, replicate, receiver):
    generation = two_independent_scenes(api)
    hooks = deliveries_by_scene(generation, receiver)
    replay(anonymous, hooks[0])
    scene = generation.scenes.get(index=0)
    before = (scene.status, scene.finished_at, scene.clip.name, scene.updated_at)

    again = replay(anonymous, hooks[0])

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    scene.refresh_from_db()
    assert (scene.status, scene.finished_at, scene.clip.name, scene.updated_at) == before
    assert WebhookDelivery.objects.count() == 1
    assert generation.scenes.get(index=1).status == Scene.Status.RUNNING


def resigned(hook, *, webhook_id: str, status: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The same prediction's body under a new delivery id (and optionally another status)."""
    payload = json.loads(hook.body)
    if status is not None:
        payload["status"] = status
    body = json.dumps(payload).encode()
    return body, signed(body, webhook_id=webhook_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_late_processing_webhook_after_completion_changes_nothing(
    api, anonymous, replicate, receiver
):
    generation = two_independent_scenes(api)
    hooks = deliveries_by_scene(generation, receiver)
    replay(anonymous, hooks[0])
    scene = generation.scenes.get(index=0)
    before = (scene.status, scene.clip.name, scene.updated_at)

    body, headers = resigned(hooks[0], webhook_id="msg_late", status="processing")
    response = deliver(anonymous, body, headers)

    assert response.json() == {"status": "ignored"}
    scene.refresh_from_db()
    assert (scene.status, scene.clip.name, scene.updated_at) == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_second_completion_under_a_new_delivery_id_changes_nothing(
    api, anonymous, replicate, receiver
):
    generation = two_independent_scenes(api)
    hooks = deliveries_by_scene(generation, receiver)
    for index in (0, 1):
        replay(anonymous, hooks[index])
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    before = (generation.video.name, generation.updated_at, generation.coherence_score)

    body, headers = resigned(hooks[0], webhook_id="msg_again")
    response = deliver(anonymous, body, headers)

    assert response.status_code == 200
    generation.refresh_from_db()
    assert (generation.video.name, generation.updated_at, generation.coherence_score) == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_out_of_order_completions_finish_the_generation_once(api, anonymous, replicate, receiver):
    generation = two_independent_scenes(api)
    hooks = deliveries_by_scene(generation, receiver)
    # Second scene's completion first, then a storm of redeliveries of both.
    for index in (1, 0, 1, 0, 1):
        replay(anonymous, hooks[index])
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert WebhookDelivery.objects.count() == 2
    assert sum(replicate.created_by_model_prompt.values()) == 2
