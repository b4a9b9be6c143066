"""Idempotency-Key: a retried create returns the first generation instead of making a second."""

from __future__ import annotations

import pytest

import generations.services.idempotency
from generations.models import Generation, IdempotencyKey
from generations.selectors import idempotency_record

pytestmark = pytest.mark.django_db

KEY = "3f0f6a52-6f43-4c0e-a3f3-1d1f3e2b9c10"


def create(client, plan, key: str | None = KEY, **extra):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        "/api/generations/", {"scenes": plan, **extra}, format="json", headers=headers
    )


def test_first_request_with_a_key_creates_and_answers_201(api, plan, user):
    response = create(api, plan)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    record = IdempotencyKey.objects.get()
    assert (record.owner, record.key, str(record.generation_id)) == (
        user,
        KEY,
        response.json()["id"],
    )


def test_a_retry_returns_the_first_generation_with_200_and_creates_nothing(api, plan):
    first = create(api, plan)

    retry = create(api, plan)

    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json() == api.get(first["Location"]).json()
    assert Generation.objects.count() == 1


def test_the_same_key_with_a_different_body_is_a_422(api, plan):
    create(api, plan)

    response = create(api, plan, title="something else")

    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert Generation.objects.count() == 1


def test_keys_are_per_user(api, other_api, plan):
    mine = create(api, plan)

    theirs = create(other_api, plan)

    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


def test_without_a_key_every_post_creates(api, plan):
    create(api, plan, key=None)
    create(api, plan, key=None)

    assert Generation.objects.count() == 2


def test_a_refused_body_does_not_use_up_the_key(api, plan):
    assert create(api, [], key=KEY).status_code == 400

    assert create(api, plan, key=KEY).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key"])
def test_a_malformed_key_is_a_400(api, plan, key):
    response = create(api, plan, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert Generation.objects.count() == 0


def test_a_race_lost_on_the_unique_constraint_returns_the_winners_generation(
    api, plan, monkeypatch
):
    winner = create(api, plan).json()
    # The loser looked for the key before the winner committed: it saw nothing, so it goes on to
    # insert and hits the unique constraint.
    lookups = iter([None])
    monkeypatch.setattr(
        generations.services.idempotency,
        "idempotency_record",
        lambda **kw: next(lookups, None) or idempotency_record(**kw),
    )

    loser = create(api, plan)

    assert loser.status_code == 200
    assert loser.json()["id"] == winner["id"]
    assert Generation.objects.count() == 1  # the loser's generation was rolled back whole
    assert IdempotencyKey.objects.count() == 1


def test_creates_are_throttled_per_user(api, other_api, plan, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"generation_create": "2/min"},
    }

    assert [create(api, plan, key=None).status_code for _ in range(3)] == [201, 201, 429]
    throttled = create(api, plan, key=None)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["detail"].startswith("Request was throttled.")
    assert create(other_api, plan, key=None).status_code == 201
    assert api.get("/api/generations/").status_code == 200  # reads are not throttled
