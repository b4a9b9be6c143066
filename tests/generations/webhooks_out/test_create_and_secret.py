"""What a create may name as its webhook (refused before anything is stored), the signing
secret's endpoint, and the admin's delivery log and rotation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from generations.models import ConsumerWebhookEvent, ConsumerWebhookSecret, Generation
from generations.webhooks_out import addresses
from generations.webhooks_out.signing import rotate_secret, secret_of
from tests.support.api import client_for

pytestmark = pytest.mark.django_db

REFUSED_AT_CREATE = [
    "https://127.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[fd00:ec2::254]/",
    "https://[::ffff:169.254.169.254]/",
    "https://2130706433/",  # 127.0.0.1 as one number
    "https://0x7f.1/",
    "https://10.0.0.5/",
    "https://100.64.0.1/",
    "https://localhost/",
    "https://api.localhost/",
    "http://hooks.example.com/",  # plain http
    "ftp://hooks.example.com/",
    "https://user:pw@hooks.example.com/",
    "https:///no-host",
    "https://hooks.example.com:99999/",
    "https://hooks.example.com/a b",
]


def create(api, plan, **extra):
    return api.post("/api/generations/", {"scenes": plan[:1], **extra}, format="json")


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def with_secret(api):
    assert api.post("/api/webhook-secret/").status_code == 201


@pytest.mark.usefixtures("with_secret")
@pytest.mark.parametrize("url", REFUSED_AT_CREATE)
def test_a_webhook_aimed_inside_is_refused_at_create(api, plan, url, monkeypatch):
    monkeypatch.setattr(addresses, "resolve", lambda *a: pytest.fail("create never resolves"))
    response = create(api, plan, webhook=url)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["webhook"]
    assert not Generation.objects.exists()


@pytest.mark.usefixtures("with_secret")
def test_private_addresses_and_http_are_allowed_only_by_the_setting(api, plan, settings):
    settings.COHERENCE = {**settings.COHERENCE, "WEBHOOK_ALLOW_PRIVATE": True}
    for url in ("http://127.0.0.1:8080/hook", "https://10.0.0.5/", "http://localhost/"):
        response = create(api, plan, webhook=url)
        assert response.status_code == 201, response.json()
    # Metadata and link-local stay refused even then.
    for url in ("http://169.254.169.254/", "https://[fd00:ec2::254]/", "http://100.100.100.200/"):
        assert create(api, plan, webhook=url).status_code == 400


@pytest.mark.usefixtures("with_secret")
def test_a_public_name_is_accepted_and_stored_with_its_filter(api, plan):
    response = create(
        api,
        plan,
        webhook="https://hooks.consumer.example/coherence?x=1",
        webhook_events_filter=["completed", "started"],
    )
    assert response.status_code == 201, response.json()
    generation = Generation.objects.get(pk=response.json()["id"])
    assert generation.webhook == "https://hooks.consumer.example/coherence?x=1"
    assert generation.webhook_events_filter == ["started", "completed"]


@pytest.mark.usefixtures("with_secret")
@pytest.mark.parametrize("events", [[], ["finished"], "completed", [1], ["started", "x"]])
def test_a_bad_events_filter_is_a_400_naming_it(api, plan, events):
    response = create(api, plan, webhook="https://hooks.example.com/", webhook_events_filter=events)
    assert response.status_code == 400
    assert "webhook_events_filter" in response.json()["errors"]
    assert not Generation.objects.exists()


def test_a_webhook_needs_a_signing_secret_first(api, plan):
    response = create(api, plan, webhook="https://hooks.example.com/")
    assert response.status_code == 400
    assert "POST /api/webhook-secret/" in response.json()["errors"]["webhook"][0]


def test_a_filter_without_a_webhook_is_a_400(api, plan):
    response = create(api, plan, webhook_events_filter=["completed"])
    assert response.status_code == 400
    assert "webhook_events_filter" in response.json()["errors"]


def test_the_secret_is_shown_once_and_rotates(api, user, anonymous_client):
    first = api.post("/api/webhook-secret/")
    second = api.post("/api/webhook-secret/")
    assert first.status_code == second.status_code == 201
    old, new = first.json()["secret"], second.json()["secret"]
    assert old != new and new.startswith("whsec_")
    assert secret_of(user_id=user.pk) == new
    assert ConsumerWebhookSecret.objects.count() == 1
    stored = ConsumerWebhookSecret.objects.get().encrypted
    assert new not in stored and new.removeprefix("whsec_") not in stored  # encrypted at rest
    assert api.get("/api/webhook-secret/").status_code == 405  # never shown again
    assert anonymous_client.post("/api/webhook-secret/").status_code == 401


def test_a_secret_survives_a_django_key_rotation_through_the_fallbacks(user, settings):
    secret = rotate_secret(user=user)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-key-" + "x" * 50
    assert secret_of(user_id=user.pk) is None  # unreadable without the old key
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert secret_of(user_id=user.pk) == secret


@pytest.fixture
def anonymous_client():
    return APIClient()


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


def test_the_delivery_log_is_read_only(admin_client_, user):
    event = ConsumerWebhookEvent.objects.create(
        webhook_id="msg_1",
        owner=user,
        event="completed",
        url="https://hooks.example.com/",
        body="{}",
        attempts=3,
        last_status_code=500,
        last_answer="boom",
        created_at="2026-01-01T00:00:00Z",
    )
    changelist = reverse("admin:generations_consumerwebhookevent_changelist")
    page = admin_client_.get(changelist)
    assert page.status_code == 200
    assert b"completed" in page.content and b"500" in page.content
    detail = admin_client_.get(
        reverse("admin:generations_consumerwebhookevent_change", args=[event.pk])
    )
    assert detail.status_code == 200
    assert b"boom" in detail.content  # the answer's excerpt
    assert b'name="_save"' not in detail.content  # a view, not a form
    assert (
        admin_client_.post(
            reverse("admin:generations_consumerwebhookevent_change", args=[event.pk]),
            {"status": "delivered"},
        ).status_code
        == 403
    )
    assert (
        admin_client_.get(reverse("admin:generations_consumerwebhookevent_add")).status_code == 403
    )


def test_the_admin_rotates_a_secret_and_shows_it_once(admin_client_, user):
    old = rotate_secret(user=user)
    changelist = reverse("admin:generations_consumerwebhooksecret_changelist")
    listing = admin_client_.get(changelist)
    assert old.encode() not in listing.content
    row = ConsumerWebhookSecret.objects.get()
    answer = admin_client_.post(changelist, {"action": "rotate", "_selected_action": [row.pk]})
    new = secret_of(user_id=user.pk)
    assert answer.status_code == 200 and new != old
    assert new.encode() in answer.content
    assert "no-store" in answer["Cache-Control"]
    assert new.encode() not in admin_client_.get(changelist).content


def test_rotating_in_the_admin_needs_the_change_permission(client, django_user_model, user):
    old = rotate_secret(user=user)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_consumerwebhooksecret"))
    client.force_login(viewer)
    changelist = reverse("admin:generations_consumerwebhooksecret_changelist")
    row = ConsumerWebhookSecret.objects.get()
    client.post(changelist, {"action": "rotate", "_selected_action": [row.pk]})
    assert secret_of(user_id=user.pk) == old
