"""Creating, listing and reading generations over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.pagination import PageNumberPagination

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.support.api import detail_url

pytestmark = pytest.mark.django_db


def create_body(plan, **extra):
    return {"title": "Fox and lake", "scenes": plan, **extra}


# --- create -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_create_answers_201_and_the_queued_work_renders_the_video(api, plan, media_root):
    response = api.post("/api/generations/", create_body(plan), format="json")

    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == body["url"]
    assert type(response["Location"]) is str  # wsgiref refuses str subclasses in headers
    # django-q2 runs in sync mode here, so the enqueued work has already finished.
    generation = Generation.objects.get(pk=body["id"])
    assert generation.status == Generation.Status.SUCCEEDED
    assert body["status"] == "succeeded"
    assert body["video_url"] == f"http://testserver/api/generations/{generation.pk}/video"
    assert (media_root / generation.video.name).is_file()


def test_create_stores_the_callers_plan_settings_and_seed(api, user, plan):
    body = create_body(plan, coherence_settings={"seed_mode": "offset"}, seed=1234)

    response = api.post("/api/generations/", body, format="json")

    assert response.status_code == 201
    generation = Generation.objects.get(pk=response.json()["id"])
    assert generation.owner == user
    assert generation.seed == 1234
    assert generation.render_settings == {
        "seed_control": True,
        "latent_reuse": True,
        "seed_mode": "offset",
        "color_match": False,
    }
    assert [s["prompt"] for s in response.json()["scenes"]] == [s["prompt"] for s in plan]


def test_create_takes_provider_and_model(api, plan):
    response = api.post(
        "/api/generations/",
        create_body(plan, provider="local", model="coherence/local-dna"),
        format="json",
    )

    assert response.status_code == 201
    assert (response.json()["provider"], response.json()["model"]) == (
        "local",
        "coherence/local-dna",
    )


def test_create_with_seed_control_off_stores_no_seed(api, plan):
    response = api.post(
        "/api/generations/",
        create_body(plan, coherence_settings={"seed_control": False}),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["coherence_settings"]["seed_control"] is False
    assert response.json()["seed_value"] is None


# --- retrieve ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_detail_shows_seed_recipes_latent_reuse_media_and_timings(api, plan, media_root):
    created = api.post("/api/generations/", create_body(plan), format="json").json()

    body = api.get(f"/api/generations/{created['id']}/").json()

    generation = Generation.objects.get(pk=created["id"])
    assert body["seed_value"] == generation.seed is not None
    assert body["progress"] == 100 and body["stage"] == "done"
    assert body["coherence_score"] == pytest.approx(generation.coherence_score)
    assert body["wall_seconds"] > 0
    assert body["error"] == "" and body["warnings"] == []
    first, second = body["scenes"][0], body["scenes"][1]
    for scene in body["scenes"]:
        assert scene["seed"] == generation.seed
        assert scene["seed_applied"] is True
        assert scene["recipe"]["seed"] == generation.seed
        assert scene["provider_input"]["seed"] == generation.seed
        base = f"http://testserver/api/generations/{generation.pk}/scenes/{scene['number']}"
        assert scene["clip_url"] == f"{base}/clip"
        assert scene["last_frame_url"] == f"{base}/last-frame"
        assert scene["attempts"] == 1
        assert scene["wall_seconds"] >= 0
        assert scene["submitted_at"] and scene["finished_at"]
    assert first["latent_reuse"] == {
        "method": None,
        "source_scene_index": None,
        "conditioning_sha256": None,
    }
    stored = generation.scenes.get(index=1)
    assert second["latent_reuse"] == {
        "method": "latent",
        "source_scene_index": 0,
        "conditioning_sha256": stored.handover_sha256,
    }
    assert second["recipe"]["handover"]["sha256"] == stored.handover_sha256


def test_detail_of_a_queued_generation_has_no_media_yet(api, queued):
    body = api.get(detail_url(queued)).json()

    assert body["status"] == "queued"
    assert body["video_url"] is None
    assert body["wall_seconds"] is None
    assert all(scene["clip_url"] is None for scene in body["scenes"])
    assert [scene["number"] for scene in body["scenes"]] == [1, 2, 3, 4]


def test_a_unknown_or_malformed_id_is_a_404(api):
    assert api.get("/api/generations/6f1c1d5e-0000-4000-8000-000000000000/").status_code == 404
    assert api.get("/api/generations/not-a-uuid/").status_code == 404


# --- list -------------------------------------------------------------------------------------


def make(plan, owner, **kwargs) -> Generation:
    return create_generation(GenerationRequest(scenes=plan, **kwargs), owner=owner, enqueue=False)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def test_list_shows_only_the_callers_generations_newest_first(api, plan, user, other_user):
    older = make(plan, user, title="older")
    newer = make(plan, user, title="newer")
    make(plan, other_user, title="not mine")

    assert ids(api.get("/api/generations/")) == [str(newer.pk), str(older.pk)]


def test_list_is_paginated(api, plan, user, monkeypatch):
    for _ in range(3):
        make(plan, user)
    # DRF reads PAGE_SIZE once, at import.
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)

    first = api.get("/api/generations/").json()

    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    assert len(api.get(first["next"]).json()["results"]) == 1
    assert api.get("/api/generations/?page=9").status_code == 404


def test_list_filters_by_status(api, plan, user):
    queued = make(plan, user)
    failed = make(plan, user)
    Generation.objects.filter(pk=failed.pk).update(status=Generation.Status.FAILED)

    assert ids(api.get("/api/generations/?status=failed")) == [str(failed.pk)]
    assert ids(api.get("/api/generations/?status=queued")) == [str(queued.pk)]


def test_list_filters_by_seed_value(api, plan, user):
    seeded = make(plan, user, seed=77)
    make(plan, user, seed=78)

    assert ids(api.get("/api/generations/?seed_value=77")) == [str(seeded.pk)]


def test_list_filters_by_creation_time(api, plan, user):
    old = make(plan, user)
    new = make(plan, user)
    cut = timezone.now() - timedelta(days=1)
    Generation.objects.filter(pk=old.pk).update(created_at=cut - timedelta(days=1))
    stamp = cut.isoformat().replace("+00:00", "Z")

    assert ids(api.get("/api/generations/", {"created_after": stamp})) == [str(new.pk)]
    assert ids(api.get("/api/generations/", {"created_before": stamp})) == [str(old.pk)]


def test_a_time_filter_with_a_far_offset_is_read_as_utc(api, plan, user):
    # +20:15 is valid ISO 8601 and Python, but beyond what PostgreSQL accepts (±15:59).
    generation = make(plan, user)
    hour_later_in_utc = (timezone.now() + timedelta(hours=1)).astimezone(
        timezone.get_fixed_timezone(20 * 60 + 15)
    )

    response = api.get("/api/generations/", {"created_before": hour_later_in_utc.isoformat()})

    assert ids(response) == [str(generation.pk)]


def test_a_time_filter_that_leaves_the_calendar_in_utc_is_a_400(api):
    response = api.get("/api/generations/", {"created_after": "0001-01-01T00:00:00+20:00"})

    assert response.status_code == 400
    assert "created_after" in response.json()["errors"]


def test_list_orders_by_a_chosen_field(api, plan, user):
    low = make(plan, user)
    high = make(plan, user)
    Generation.objects.filter(pk=low.pk).update(coherence_score=0.2)
    Generation.objects.filter(pk=high.pk).update(coherence_score=0.9)

    assert ids(api.get("/api/generations/?ordering=coherence_score")) == [
        str(low.pk),
        str(high.pk),
    ]
    assert ids(api.get("/api/generations/?ordering=-coherence_score")) == [
        str(high.pk),
        str(low.pk),
    ]


def test_list_orders_by_several_fields_and_ignores_an_empty_ordering(api, plan, user):
    first, second = make(plan, user), make(plan, user)
    Generation.objects.filter(pk__in=[first.pk, second.pk]).update(coherence_score=0.5)

    assert ids(api.get("/api/generations/?ordering=coherence_score, created_at")) == [
        str(first.pk),
        str(second.pk),
    ]
    assert ids(api.get("/api/generations/?ordering=")) == [str(second.pk), str(first.pk)]


@pytest.mark.parametrize("ordering", ["title", "-owner", "created_at,seed", "", "--status"])
def test_an_unknown_ordering_is_a_400_naming_the_allowed_fields(api, ordering):
    query = ordering or ","  # "," alone: two empty terms
    response = api.get("/api/generations/", {"ordering": query})

    assert response.status_code == 400
    [message] = response.json()["errors"]["ordering"]
    assert message.startswith("Unknown ordering field(s): ")
    assert "Allowed: created_at, updated_at, finished_at, status, coherence_score" in message


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("seed_value=1.5", "seed_value"),
        ("seed_value=-1", "seed_value"),
        ("seed_value=2147483648", "seed_value"),
        ("created_after=yesterday", "created_after"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, query, field):
    response = api.get(f"/api/generations/?{query}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input."
    assert field in response.json()["errors"]


def test_staff_list_everyones_generations(staff_api, plan, user, other_user):
    make(plan, user)
    make(plan, other_user)

    assert len(ids(staff_api.get("/api/generations/"))) == 2
