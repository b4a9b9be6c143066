"""Consumer webhooks end to end: a real local-model generation, signed deliveries verified the
way a consumer verifies them, retries with back-off, giving up, and the SSRF guard at delivery
(resolver answered by the test: nothing here ever leaves loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from generations.lifecycle import failure, start, ticker
from generations.models import ConsumerWebhookEvent, Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from generations.webhooks_out import addresses, delivery
from generations.webhooks_out.delivery import deliver_due
from generations.webhooks_out.signing import rotate_secret
from tests.support.api import client_for

pytestmark = pytest.mark.django_db

Status = ConsumerWebhookEvent.Status


def spec_signature(secret: str, headers: dict[str, str], body: str) -> str:
    """The Standard Webhooks signature, computed from the spec's words, not our code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def queued_with_webhook(user, plan, url, **extra) -> Generation:
    return create_generation(
        GenerationRequest(scenes=plan[:1], webhook=url, **extra), owner=user, enqueue=False
    )


def no_connections(monkeypatch) -> list:
    """Make any connection attempt of the delivery a failure of the test, and count them."""
    tried: list = []

    def refuse(address, *args, **kwargs):
        tried.append(address)
        raise AssertionError(f"the delivery connected to {address}")

    monkeypatch.setattr(delivery.socket, "create_connection", refuse)
    return tried


# --- the whole path -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures", "allow_private")
def test_a_consumer_receives_signed_events_for_a_real_local_generation(
    user, plan, media_root, consumer
):
    api = client_for(user)
    answer = api.post("/api/webhook-secret/")
    assert answer.status_code == 201 and answer["Cache-Control"] == "no-store"
    secret = answer.json()["secret"]

    created = api.post(
        "/api/generations/",
        {"scenes": plan[:2], "webhook": consumer.url()},
        format="json",
    )
    assert created.status_code == 201, created.json()
    generation = Generation.objects.get(pk=created.json()["id"])
    assert generation.status == Generation.Status.SUCCEEDED  # sync django-q2: already rendered
    events = list(ConsumerWebhookEvent.objects.order_by("created_at", "id"))
    assert [e.event for e in events] == [
        "started",
        "scene_completed",
        "scene_completed",
        "completed",
    ]
    assert consumer.received == []  # recorded with the changes; nothing is sent by a worker

    report = deliver_due()

    assert (report.attempted, report.delivered) == (4, 4)
    by_type = {json.loads(r.body)["type"]: r for r in consumer.received}
    completed = by_type["generation.completed"]
    headers = completed.headers
    assert headers["webhook-signature"] == spec_signature(secret, headers, completed.body)
    verified = Webhook(secret).verify(completed.body, headers)  # the spec's own library
    assert verified["data"]["id"] == str(generation.pk)
    assert verified["data"]["status"] == "succeeded"
    assert verified["data"]["video_url"] == f"/api/generations/{generation.pk}/video"
    assert verified["data"]["coherence_score"] == pytest.approx(generation.coherence_score)
    assert completed.path == "/hooks/coherence"
    assert headers["content-type"] == "application/json"
    assert json.loads(by_type["generation.scene_completed"].body)["data"]["scene"]["number"] in (
        1,
        2,
    )
    assert set(ConsumerWebhookEvent.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    row = ConsumerWebhookEvent.objects.get(event="completed")
    assert (row.attempts, row.last_status_code, row.last_answer) == (1, 200, "ok")
    assert headers["webhook-id"] == row.webhook_id


@pytest.mark.usefixtures("allow_private")
def test_the_events_filter_records_only_the_events_asked_for(user, plan, secret, consumer):
    generation = queued_with_webhook(
        user, plan, consumer.url(), webhook_events_filter=["completed"]
    )
    start.start_generation(generation_id=generation.pk)
    assert not ConsumerWebhookEvent.objects.exists()  # "started" was not asked for
    failure.stop_generation(generation_id=generation.pk)
    (row,) = ConsumerWebhookEvent.objects.all()
    assert row.event == "completed"
    assert json.loads(row.body)["data"]["status"] == "canceled"


@pytest.mark.usefixtures("allow_private")
def test_an_event_exists_only_if_its_change_committed(user, plan, secret, consumer):
    generation = queued_with_webhook(user, plan, consumer.url())
    with pytest.raises(RuntimeError), transaction.atomic():
        start.start_generation(generation_id=generation.pk)
        assert ConsumerWebhookEvent.objects.count() == 1
        raise RuntimeError("the worker dies before its change commits")
    assert not ConsumerWebhookEvent.objects.exists()
    assert Generation.objects.get(pk=generation.pk).status == Generation.Status.QUEUED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("allow_private")
def test_the_ticker_delivers(user, plan, consumer):
    rotate_secret(user=user)
    generation = queued_with_webhook(user, plan, consumer.url())
    start.start_generation(generation_id=generation.pk)
    stop = threading.Event()
    running = threading.Thread(target=ticker.run, args=(stop,))
    running.start()
    try:
        assert consumer.arrived.wait(timeout=20)
    finally:
        stop.set()
        running.join(timeout=20)
    assert not running.is_alive()
    assert json.loads(consumer.received[0].body)["type"] == "generation.started"


# --- retries --------------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_private")
def test_a_500_is_delivered_again_after_a_back_off_with_the_same_id_and_body(
    user, plan, secret, consumer
):
    consumer.answers = [(500, {}, "database down " * 100), (204, {}, "")]
    generation = queued_with_webhook(user, plan, consumer.url())
    start.start_generation(generation_id=generation.pk)

    before = timezone.now()
    first = deliver_due()
    row = ConsumerWebhookEvent.objects.get()
    assert (first.attempted, first.delivered) == (1, 0)
    assert (row.status, row.attempts, row.last_status_code) == (Status.PENDING, 1, 500)
    assert row.last_answer.startswith("database down") and len(row.last_answer) == 500
    wait = (row.next_attempt_at - before).total_seconds()
    assert 0.8 * 5 <= wait <= 1.2 * 5 + 2  # WEBHOOK_RETRY_SECONDS (5) with its jitter
    assert deliver_due().attempted == 0  # not due yet: nobody hammers a failing consumer

    second = deliver_due(now=row.next_attempt_at)
    row.refresh_from_db()
    assert (second.attempted, second.delivered) == (1, 1)
    assert (row.status, row.attempts, row.last_status_code) == (Status.DELIVERED, 2, 204)
    one, two = consumer.received
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == row.webhook_id
    assert one.body == two.body
    assert Webhook(secret).verify(two.body, two.headers)


def test_the_back_off_doubles_up_to_an_hour():
    waits = [delivery.backoff_seconds(n) for n in (1, 2, 3, 20)]
    assert 4 <= waits[0] <= 6 and 8 <= waits[1] <= 12 and 16 <= waits[2] <= 24
    assert 2880 <= waits[3] <= 4320


@pytest.mark.usefixtures("allow_private")
def test_a_consumer_that_keeps_failing_is_given_up_and_the_generation_does_not_care(
    user, plan, secret, consumer, settings
):
    settings.COHERENCE = {**settings.COHERENCE, "WEBHOOK_GIVE_UP_SECONDS": 60.0}
    consumer.answers = [(503, {}, "busy")]
    generation = queued_with_webhook(user, plan, consumer.url())
    start.start_generation(generation_id=generation.pk)
    row = ConsumerWebhookEvent.objects.get()
    now = timezone.now()
    while row.status == Status.PENDING:
        deliver_due(now=max(now, row.next_attempt_at))
        row.refresh_from_db()
        now = now + timedelta(seconds=1)
    assert row.status == Status.GAVE_UP
    assert row.next_attempt_at is None
    assert 3 <= row.attempts <= 5  # 5 + 10 + 20 s of waits fit in a minute, 40 more do not
    assert len(consumer.received) == row.attempts
    assert Generation.objects.get(pk=generation.pk).status == Generation.Status.RUNNING


@pytest.mark.usefixtures("allow_private")
def test_a_redirect_is_not_followed(user, plan, secret, consumer, monkeypatch):
    consumer.answers = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, "")]
    connects = []
    real = socket.create_connection

    def counted(address, *args, **kwargs):
        connects.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(delivery.socket, "create_connection", counted)
    generation = queued_with_webhook(user, plan, consumer.url())
    start.start_generation(generation_id=generation.pk)
    deliver_due()
    row = ConsumerWebhookEvent.objects.get()
    assert connects == [("127.0.0.1", consumer.port)]
    assert len(consumer.received) == 1
    assert (row.status, row.last_status_code) == (Status.PENDING, 302)
    assert "not followed" in row.last_error


# --- the SSRF guard at delivery ---------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["100.64.0.7"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "192.168.1.1"],  # one bad answer among good ones is enough
    ],
)
def test_a_name_that_resolves_to_a_refused_address_fails_the_delivery_without_connecting(
    user, plan, secret, monkeypatch, answers
):
    generation = queued_with_webhook(user, plan, "https://hooks.consumer.example/coherence")
    asked = []
    monkeypatch.setattr(addresses, "resolve", lambda host, port: asked.append(host) or answers)
    tried = no_connections(monkeypatch)
    start.start_generation(generation_id=generation.pk)

    report = deliver_due()

    row = ConsumerWebhookEvent.objects.get()
    assert (report.attempted, report.delivered, tried) == (1, 0, [])
    assert asked == ["hooks.consumer.example"]
    assert row.last_error.startswith("refused: hooks.consumer.example resolves to")
    assert (row.status, row.attempts, row.last_status_code) == (Status.PENDING, 1, None)


@pytest.mark.usefixtures("allow_private")
def test_every_attempt_resolves_once_and_connects_to_the_checked_address(
    user, plan, secret, consumer, monkeypatch
):
    # A rebinding name: public for the check, loopback right after. We must connect to what we
    # checked, never ask again; ALLOW_PRIVATE is on so that the checked answer can be our server.
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    asked = []

    def rebinding(host, port):
        asked.append(host)
        return next(answers)

    monkeypatch.setattr(addresses, "resolve", rebinding)
    generation = queued_with_webhook(user, plan, consumer.url(host="consumer.test"))
    start.start_generation(generation_id=generation.pk)
    assert deliver_due().delivered == 1
    assert asked == ["consumer.test"]
    assert consumer.received[0].headers["host"] == f"consumer.test:{consumer.port}"


def test_a_loopback_webhook_stored_while_private_was_allowed_is_refused_once_it_is_not(
    user, plan, secret, settings, monkeypatch
):
    settings.COHERENCE = {**settings.COHERENCE, "WEBHOOK_ALLOW_PRIVATE": True}
    generation = queued_with_webhook(user, plan, "http://127.0.0.1:9/hook")
    settings.COHERENCE = {**settings.COHERENCE, "WEBHOOK_ALLOW_PRIVATE": False}
    tried = no_connections(monkeypatch)
    start.start_generation(generation_id=generation.pk)
    deliver_due()
    row = ConsumerWebhookEvent.objects.get()
    assert tried == []
    assert row.last_error == "refused: The webhook must be an https:// URL."


@pytest.mark.usefixtures("allow_private")
def test_after_rotation_deliveries_are_signed_with_the_new_secret(user, plan, secret, consumer):
    generation = queued_with_webhook(user, plan, consumer.url())
    start.start_generation(generation_id=generation.pk)
    new = rotate_secret(user=user)
    deliver_due()
    received = consumer.received[0]
    assert new != secret
    assert Webhook(new).verify(received.body, received.headers)
    assert received.headers["webhook-signature"] != spec_signature(
        secret, received.headers, received.body
    )
