"""Caps on work: unfinished generations per user (429), plan size and length (400 naming the
limit), and the create throttle, all counted where every server process sees them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.limits import ActiveLimitReached, check_active_limit
from generations.services.request import GenerationRequest

pytestmark = pytest.mark.django_db

SCENE = {"prompt": "a fox", "duration": 1.0}


def queue_up(owner, count: int) -> list[Generation]:
    return [
        create_generation(GenerationRequest(scenes=[SCENE]), owner=owner, enqueue=False)
        for _ in range(count)
    ]


def test_the_sixth_unfinished_generation_is_a_429_naming_the_limit(api, user):
    queue_up(user, 5)

    response = api.post("/api/generations/", {"scenes": [SCENE]}, format="json")

    assert response.status_code == 429
    assert "COHERENCE_MAX_ACTIVE_PER_USER" in response.json()["detail"]
    assert "at most 5" in response.json()["detail"]
    assert Generation.objects.count() == 5


def test_a_finished_or_canceled_generation_frees_a_place(api, user):
    first, *_ = queue_up(user, 5)
    assert api.post(f"/api/generations/{first.pk}/cancel/").status_code == 200

    assert api.post("/api/generations/", {"scenes": [SCENE]}, format="json").status_code == 201


def test_running_and_stitching_count_as_unfinished(api, user):
    for generation, status in zip(
        queue_up(user, 5), ["running", "stitching", "queued", "running", "queued"], strict=True
    ):
        Generation.objects.filter(pk=generation.pk).update(status=status)
    assert api.post("/api/generations/", {"scenes": [SCENE]}, format="json").status_code == 429


def test_regenerate_counts_against_the_same_cap(api, user):
    source, *_ = queue_up(user, 5)
    response = api.post(f"/api/generations/{source.pk}/regenerate/", {"seed": 1}, format="json")
    assert response.status_code == 429


def test_the_cap_is_per_owner(api, other_api, user):
    queue_up(user, 5)
    assert (
        other_api.post("/api/generations/", {"scenes": [SCENE]}, format="json").status_code == 201
    )


def test_the_cap_follows_the_setting(api, user, settings):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_ACTIVE_PER_USER": 2}
    queue_up(user, 2)
    assert api.post("/api/generations/", {"scenes": [SCENE]}, format="json").status_code == 429


def test_an_idempotent_create_is_capped_too(api, user):
    queue_up(user, 5)
    response = api.post(
        "/api/generations/", {"scenes": [SCENE]}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 429


def test_the_count_takes_a_lock_on_the_owner_row(user, django_assert_num_queries):
    # The count runs behind SELECT ... FOR UPDATE on the user row (PostgreSQL), or inside an
    # IMMEDIATE transaction that holds SQLite's write lock: two processes cannot both pass.
    with transaction.atomic(), django_assert_num_queries(2) as captured:
        check_active_limit(owner=user)
    locking = captured.captured_queries[0]["sql"]
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in locking
    assert "auth_user" in locking


def test_the_cap_refusal_is_a_validation_error_for_commands_and_the_admin(user):
    queue_up(user, 5)
    with pytest.raises(ActiveLimitReached) as refused:
        create_generation(GenerationRequest(scenes=[SCENE]), owner=user, enqueue=False)
    assert isinstance(refused.value, ValidationError)
    assert "COHERENCE_MAX_ACTIVE_PER_USER" in refused.value.message_dict["owner"][0]


# --- plan size -----------------------------------------------------------------------------------


def test_more_scenes_than_the_limit_is_a_400_naming_it(api):
    response = api.post("/api/generations/", {"scenes": [SCENE] * 13}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["scenes"] == ["A plan has at most 12 scenes."]


def test_fifty_scenes_of_thirty_seconds_is_refused(api):
    long_scene = {"prompt": "a fox", "duration": 30.0}
    response = api.post("/api/generations/", {"scenes": [long_scene] * 50}, format="json")
    assert response.status_code == 400
    assert Generation.objects.count() == 0


def test_a_plan_longer_than_the_seconds_limit_is_a_400_naming_it(api):
    scenes = [{"prompt": "a fox", "duration": 30.0}] * 5  # 150 s
    response = api.post("/api/generations/", {"scenes": scenes}, format="json")
    assert response.status_code == 400
    [message] = response.json()["errors"]["scenes"]
    assert "at most 120 seconds" in message and "COHERENCE_MAX_PLAN_SECONDS" in message
    assert "150" in message


def test_a_plan_of_exactly_the_limit_is_accepted(api):
    scenes = [{"prompt": "a fox", "duration": 30.0}] * 4  # 120 s
    assert api.post("/api/generations/", {"scenes": scenes}, format="json").status_code == 201


# --- the throttle counts in the shared cache ---------------------------------------------------


def test_the_throttle_counts_in_the_database_cache_when_there_is_no_redis(settings):
    # A per-process LocMemCache let N server processes accept N times the rate.
    assert settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")


def test_the_create_throttle_answers_429_with_retry_after(api, settings, user):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"generation_create": "2/min"},
    }
    codes = [
        api.post("/api/generations/", {"scenes": [SCENE]}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
