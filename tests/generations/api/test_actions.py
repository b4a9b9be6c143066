"""Regenerate, cancel and the coherence report."""

from __future__ import annotations

import pytest

from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.support.api import detail_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(plan, user) -> Generation:
    generation = create_generation(
        GenerationRequest(
            scenes=plan,
            title="Fox",
            seed=4242,
            coherence_settings={"seed_mode": "offset", "color_match": True},
        ),
        owner=user,
        enqueue=False,
    )
    Generation.objects.filter(pk=generation.pk).update(model_version="dna-1")
    generation.refresh_from_db()
    return generation


def regenerate(client, generation, payload=None):
    return client.post(detail_url(generation, "regenerate"), payload or {}, format="json")


# --- regenerate -------------------------------------------------------------------------------


def test_regenerate_copies_plan_settings_model_version_and_seed(api, seeded, plan):
    response = regenerate(api, seeded)

    assert response.status_code == 201
    body = response.json()
    assert body["id"] != str(seeded.pk)
    assert body["source_generation"] == str(seeded.pk)
    assert body["seed_value"] == 4242
    assert body["coherence_settings"] == seeded.render_settings
    assert (body["provider"], body["model"], body["model_version"]) == (
        seeded.provider,
        seeded.model,
        "dna-1",
    )
    assert body["title"] == "Fox"
    assert [
        {"prompt": s["prompt"], "duration": s["duration"], "continuous": s["continuous"]}
        for s in body["scenes"]
    ] == plan


def test_regenerate_with_a_seed_overrides_it(api, seeded):
    body = regenerate(api, seeded, {"seed": 7, "title": "Fox, seed 7"}).json()

    assert (body["seed_value"], body["title"]) == (7, "Fox, seed 7")


def test_regenerate_with_a_null_seed_leaves_it_to_be_drawn_fresh(api, seeded):
    body = regenerate(api, seeded, {"seed": None}).json()

    assert body["seed_value"] is None
    assert body["coherence_settings"]["seed_control"] is True


def test_regenerate_without_a_body_keeps_the_seed(api, seeded):
    response = api.post(detail_url(seeded, "regenerate"))

    assert response.status_code == 201
    assert response.json()["seed_value"] == 4242


def test_the_regeneration_belongs_to_the_caller(staff_api, staff_user, seeded):
    body = regenerate(staff_api, seeded).json()

    assert Generation.objects.get(pk=body["id"]).owner == staff_user


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"sead": 7}, "sead"),
        ({"title": 5}, "title"),
    ],
)
def test_regenerate_with_bad_input_is_a_400(api, seeded, payload, field):
    response = regenerate(api, seeded, payload)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Generation.objects.count() == 1


def test_regenerate_with_a_seed_when_seed_control_was_off_is_a_400(api, plan, user):
    source = create_generation(
        GenerationRequest(scenes=plan, coherence_settings={"seed_control": False}),
        owner=user,
        enqueue=False,
    )

    response = regenerate(api, source, {"seed": 3})

    assert response.status_code == 400
    assert "seed" in response.json()["errors"]


def test_regenerate_body_must_be_an_object(api, seeded):
    response = api.post(detail_url(seeded, "regenerate"), "[7]", content_type="application/json")

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_regeneration_sends_every_scene_the_same_seed_again(api, plan, media_root):
    source = api.post("/api/generations/", {"scenes": plan}, format="json").json()

    again = regenerate(api, Generation.objects.get(pk=source["id"])).json()

    assert again["status"] == "succeeded"
    assert [s["seed"] for s in again["scenes"]] == [s["seed"] for s in source["scenes"]]
    assert [s["provider_input"] for s in again["scenes"]] == [
        s["provider_input"] for s in source["scenes"]
    ]


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_stops_an_unfinished_generation(api, queued):
    response = api.post(detail_url(queued, "cancel"))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert {s["status"] for s in response.json()["scenes"]} == {"canceled"}
    queued.refresh_from_db()
    assert queued.status == Generation.Status.CANCELED


@pytest.mark.parametrize("status", [s for s in Generation.TERMINAL])
def test_cancel_of_an_ended_generation_is_a_409(api, queued, status):
    Generation.objects.filter(pk=queued.pk).update(status=status)

    response = api.post(detail_url(queued, "cancel"))

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Generation {queued.pk} is {status}; only an unfinished generation can be "
        "canceled."
    }
    queued.refresh_from_db()
    assert queued.status == status


# --- coherence --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_coherence_returns_the_stored_report(api, plan, media_root):
    created = api.post("/api/generations/", {"scenes": plan}, format="json").json()

    response = api.get(f"/api/generations/{created['id']}/coherence/")

    assert response.status_code == 200
    body = response.json()
    stored = Generation.objects.get(pk=created["id"]).coherence_report
    assert body["generation"] == created["id"]
    assert body["score"] == pytest.approx(stored["score"])
    assert body["report"]["continuity"] == pytest.approx(stored["continuity"])
    assert [b["kind"] for b in body["report"]["boundaries"]] == ["continuous", "cut", "continuous"]
    assert len(body["report"]["scenes"]) == 4


@pytest.mark.parametrize("status", ["queued", "running", "stitching", "failed", "canceled"])
def test_coherence_before_scoring_is_a_409_saying_why(api, queued, status):
    Generation.objects.filter(pk=queued.pk).update(status=status)

    response = api.get(detail_url(queued, "coherence"))

    assert response.status_code == 409
    assert f"is {status} and has no coherence report" in response.json()["detail"]


def test_scene_statuses_stay_untouched_by_a_refused_cancel(api, queued):
    Generation.objects.filter(pk=queued.pk).update(status=Generation.Status.SUCCEEDED)

    api.post(detail_url(queued, "cancel"))

    assert set(Scene.objects.values_list("status", flat=True)) == {Scene.Status.PENDING}
