"""Webhook signatures: what we accept, what we reject, and the loopback server's deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from pipeline.providers.base import PredictionStatus, SceneRequest
from pipeline.providers.config import ReplicateConfig
from pipeline.providers.registry import SEEDANCE_LITE
from pipeline.providers.replicate import ReplicateProvider, prediction_state
from pipeline.providers.replicate_webhooks import (
    WebhookRejected,
    generate_webhook_secret,
    sign_webhook,
    verify_replicate_webhook,
)
from tests.support.replicate import TOKEN, make_server
from tests.support.webhooks import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"coherence-test-webhook-secret-32b").decode()
BODY = json.dumps({"id": "abc123", "status": "succeeded", "output": "https://x/out.mp4"}).encode()


def signed(body: bytes = BODY, *, secret: str = SECRET, at: int | None = None, msg: str = "msg_1"):
    return sign_webhook(
        secret=secret, webhook_id=msg, timestamp=int(time.time()) if at is None else at, body=body
    )


def rejected(headers, body: bytes = BODY, **kwargs) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        verify_replicate_webhook(
            headers=headers, body=body, secret=kwargs.pop("secret", SECRET), **kwargs
        )
    return caught.value


def test_signature_matches_the_standard_webhooks_scheme():
    headers = signed(at=1_700_000_000)

    key = base64.b64decode(SECRET.split("_", 1)[1])
    expected = hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(expected).decode(),
    }


def test_valid_webhook_returns_the_prediction():
    assert verify_replicate_webhook(headers=signed(), body=BODY, secret=SECRET) == json.loads(BODY)


def test_header_names_are_case_insensitive():
    headers = {key.title(): value for key, value in signed().items()}
    assert verify_replicate_webhook(headers=headers, body=BODY, secret=SECRET)["id"] == "abc123"


def test_any_of_several_signatures_may_match():
    headers = signed()
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert verify_replicate_webhook(headers=headers, body=BODY, secret=SECRET)["id"] == "abc123"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_400(missing):
    headers = signed()
    del headers[missing]
    error = rejected(headers)
    assert error.status_code == 400
    assert missing in error.message


def test_missing_body_is_400():
    assert rejected(signed(b""), body=b"").status_code == 400


def test_wrong_secret_is_401():
    assert rejected(signed(secret=generate_webhook_secret())).status_code == 401


def test_tampered_body_is_401():
    tampered = BODY.replace(b"succeeded", b"failed\x20\x20")
    assert rejected(signed(), body=tampered).status_code == 401


def test_garbage_signature_is_401():
    headers = signed()
    headers["webhook-signature"] = "not-a-signature"
    assert rejected(headers).status_code == 401


def test_stale_timestamp_is_400():
    error = rejected(signed(at=int(time.time()) - 301))
    assert error.status_code == 400
    assert "stale" in error.message


def test_timestamp_far_in_the_future_is_400():
    assert rejected(signed(at=int(time.time()) + 301)).status_code == 400


def test_non_numeric_timestamp_is_400():
    headers = signed()
    headers["webhook-timestamp"] = "yesterday"
    assert rejected(headers).status_code == 400


def test_replayed_signature_with_a_fresh_timestamp_is_401():
    old = signed(at=int(time.time()) - 3600)
    replay = {**old, "webhook-timestamp": str(int(time.time()))}
    assert rejected(replay).status_code == 401


def test_replayed_delivery_outside_tolerance_is_400():
    headers = signed(at=int(time.time()) - 2)
    assert rejected(headers, tolerance=1).status_code == 400


def test_missing_or_malformed_secret_is_a_500():
    assert rejected(signed(), secret="").status_code == 500
    assert rejected(signed(), secret="not-a-secret").status_code == 500


def test_body_that_is_not_a_json_object_is_400():
    for body in (b"not json", b"[1, 2]"):
        assert rejected(signed(body), body=body).status_code == 400


def test_loopback_server_delivers_verifiable_completed_webhook():
    with make_server() as server, WebhookReceiver() as receiver:
        provider = ReplicateProvider(ReplicateConfig(api_token=TOKEN, base_url=server.base_url))
        submission = provider.submit(
            SceneRequest(
                model=SEEDANCE_LITE,
                prompt="a lighthouse at night",
                duration=5.0,
                seed=3,
                width=128,
                height=72,
                fps=12,
                webhook_url=receiver.url,
            )
        )
        delivery = receiver.wait_for(1)[0]
        server.wait_for_webhooks(1)

    payload = verify_replicate_webhook(
        headers=delivery.headers, body=delivery.body, secret=server.webhook_secret
    )
    state = prediction_state(payload)
    assert state.prediction_id == submission.prediction_id
    assert state.status == PredictionStatus.SUCCEEDED
    assert state.output_url and state.output_url.endswith("/output.mp4")
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert len(receiver.received) == 1  # filter ["completed"]: no "start" event
    # Another secret (say, a rotated one) does not verify the same delivery.
    with pytest.raises(WebhookRejected) as caught:
        verify_replicate_webhook(
            headers=delivery.headers, body=delivery.body, secret=generate_webhook_secret()
        )
    assert caught.value.status_code == 401


def test_without_a_filter_start_and_completed_are_sent():
    with make_server() as server, WebhookReceiver() as receiver:
        httpx.post(
            f"{server.base_url}/v1/models/{SEEDANCE_LITE}/predictions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"input": {"prompt": "x"}, "webhook": receiver.url},
        ).raise_for_status()
        deliveries = receiver.wait_for(2)

    # Each event goes out on its own delivery (as Replicate's do), so arrival order is not
    # guaranteed: a fast prediction's "completed" can overtake its "start".
    statuses = sorted(json.loads(d.body)["status"] for d in deliveries)
    assert statuses == ["processing", "succeeded"]
    ids = {d.headers["webhook-id"] for d in deliveries}
    assert len(ids) == 2  # distinct events are distinct messages


def test_failed_delivery_is_retried_with_the_same_webhook_id():
    with make_server() as server, WebhookReceiver(status=500) as receiver:
        httpx.post(
            f"{server.base_url}/v1/models/{SEEDANCE_LITE}/predictions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "input": {"prompt": "x"},
                "webhook": receiver.url,
                "webhook_events_filter": ["completed"],
            },
        ).raise_for_status()
        deliveries = receiver.wait_for(3)
        server.wait_for_webhooks(3)

    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    assert [d.attempt for d in server.webhook_deliveries] == [1, 2, 3]
    assert all(d.status_code == 500 for d in server.webhook_deliveries)
