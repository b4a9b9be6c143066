"""The iteration endpoints over HTTP: owner-scoped, estimates before running, real renders."""

from __future__ import annotations

import pytest

from generations.iterate.variations import create_with_variations
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.generations.iterate.conftest import clip_bytes, predictions
from tests.support.api import client_for, detail_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def other_api(django_user_model):
    return client_for(django_user_model.objects.create_user(username="mallory", password="pw-m"))


def test_rerender_shows_its_plan_then_renders_two_scenes(api, original, media_root):
    url = detail_url(original, "scenes/3/rerender")
    plan = api.get(url).json()
    assert plan == {
        "rendered_scenes": [3, 4],
        "reused_scenes": [1, 2],
        "estimated_cost": "0.0000",
        "currency": "USD",
    }
    before = predictions()
    response = api.post(url, {"prompt": "a stormy lake at dusk", "seed": 99}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(predictions() - before) == 2
    assert body["status"] == "succeeded"
    assert body["source_generation"] == str(original.pk)
    assert [s["recipe"]["rendered"] for s in body["scenes"]] == [False, False, True, True]
    assert [s["seed"] for s in body["scenes"]][2] == 99
    assert body["scenes"][0]["recipe"]["reused_from"] == {
        "generation": str(original.pk),
        "scene": 1,
    }
    assert body["estimated_cost"] == body["cost"] == "0.0000"


@pytest.mark.parametrize("number", ["0", "5", "x", "-1"])
def test_rerender_of_a_scene_that_does_not_exist_is_a_400(api, original, number):
    response = api.post(detail_url(original, f"scenes/{number}/rerender"), {}, format="json")
    assert response.status_code == 400
    assert "scene" in response.json()["errors"]


def test_rerender_refuses_unknown_fields_and_bad_values(api, original):
    url = detail_url(original, "scenes/1/rerender")
    assert api.post(url, {"colour": "red"}, format="json").status_code == 400
    bad = api.post(url, {"duration": "2"}, format="json")
    assert bad.status_code == 400
    assert "scenes.0.duration" in bad.json()["errors"]
    assert Generation.objects.count() == 1


def test_another_users_generation_is_a_404_on_every_iteration_endpoint(other_api, original):
    for method, action in [
        ("get", "scenes/1/rerender"),
        ("post", "scenes/1/rerender"),
        ("get", "finalize"),
        ("post", "finalize"),
        ("get", "variations"),
        ("post", "variations/1/choose"),
    ]:
        response = getattr(other_api, method)(detail_url(original, action), format="json")
        assert response.status_code == 404, (method, action)
    assert Generation.objects.count() == 1


def test_anonymous_callers_are_refused(original):
    response = client_for(None).post(detail_url(original, "scenes/1/rerender"), {}, format="json")
    assert response.status_code == 401


def test_preview_then_finalize(api, plan, media_root):
    estimate = api.post("/api/generations/estimate/", {"scenes": plan}, format="json")
    assert estimate.status_code == 200
    assert (estimate.json()["full"], estimate.json()["preview"]) == ("0.0000", "0.0000")
    preview = api.post(
        "/api/generations/", {"scenes": plan, "quality": "preview"}, format="json"
    ).json()
    assert (preview["quality"], preview["width"], preview["status"]) == (
        "preview",
        114,
        "succeeded",
    )
    url = f"/api/generations/{preview['id']}/finalize/"
    shown = api.get(url).json()
    assert shown == {"estimated_cost": "0.0000", "currency": "USD", "seed": preview["seed_value"]}
    final = api.post(url, {}, format="json")
    assert final.status_code == 201
    assert (final.json()["quality"], final.json()["width"]) == ("full", 128)
    assert final.json()["seed_value"] == preview["seed_value"]
    again = api.get(f"/api/generations/{final.json()['id']}/finalize/")
    assert again.status_code == 400  # a full-quality generation has nothing to finalize


@pytest.fixture
def preview(user, plan, media_root) -> Generation:
    generation = create_generation(GenerationRequest(scenes=plan, quality="preview"), owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation


def test_a_second_finalize_answers_200_with_the_first_and_renders_nothing(api, preview):
    url = detail_url(preview, "finalize")
    first = api.post(url, {}, format="json")
    assert first.status_code == 201
    before = predictions()
    second = api.post(url, {"title": "again"}, format="json")
    assert second.status_code == 200, second.json()
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["title"] == preview.title  # the first one, unchanged
    assert second["Location"] == first["Location"]
    assert predictions() == before
    assert Generation.objects.filter(quality="full").count() == 1


def test_a_preview_finalized_by_someone_else_is_a_409_without_their_id(api, preview, staff_user):
    finalized_by_staff = client_for(staff_user).post(
        detail_url(preview, "finalize"), {}, format="json"
    )
    assert finalized_by_staff.status_code == 201
    response = api.post(detail_url(preview, "finalize"), {}, format="json")
    assert response.status_code == 409
    assert "finalized already" in response.json()["detail"]
    assert finalized_by_staff.json()["id"] not in response.content.decode()
    assert Generation.objects.filter(quality="full").count() == 1


def test_the_schema_documents_both_finalize_answers(api):
    schema = api.get("/api/schema/?format=json").json()
    [answers] = [
        item["post"]["responses"]
        for path, item in schema["paths"].items()
        if path.rstrip("/") == "/api/generations/{id}/finalize"
    ]
    assert {"200", "201", "409"} <= set(answers)
    assert "finalized already" in answers["200"]["description"]


def test_variations_ranked_with_thumbnails_then_choose(api, plan, media_root):
    created = api.post("/api/generations/", {"scenes": plan, "variations": 3}, format="json").json()
    assert created["status"] == "awaiting_choice"
    listed = api.get(f"/api/generations/{created['id']}/variations/").json()
    assert [v["rank"] for v in listed] == [1, 2, 3]
    scores = [v["score"] for v in listed]
    assert scores == sorted(scores, reverse=True)
    thumbnail = api.get(listed[0]["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert b"".join(thumbnail.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    best = listed[0]
    chosen = api.post(f"/api/generations/{created['id']}/variations/{best['number']}/choose/")
    assert chosen.status_code == 200
    assert (chosen.json()["status"], chosen.json()["seed_value"]) == ("succeeded", best["seed"])
    variation = Generation.objects.get(pk=best["generation"])
    parent = Generation.objects.get(pk=created["id"])
    assert clip_bytes(parent.scenes.get(index=0)) == clip_bytes(variation.scenes.get())
    assert api.get(f"/api/generations/{created['id']}/variations/").json()[0]["chosen"] is True
    again = api.post(f"/api/generations/{created['id']}/variations/1/choose/")
    assert again.status_code == 409
    missing = api.post(f"/api/generations/{created['id']}/variations/9/choose/")
    assert missing.status_code == 404


def test_bad_variation_counts_are_a_400_and_store_nothing(api, plan):
    for count in (1, 9, "3", True):
        response = api.post(
            "/api/generations/", {"scenes": plan, "variations": count}, format="json"
        )
        assert response.status_code == 400, count
        assert "variations" in response.json()["errors"]
    assert Generation.objects.count() == 0


def test_an_idempotent_create_with_variations_makes_them_once(api, plan, media_root):
    body = {"scenes": plan, "variations": 2}
    headers = {"HTTP_IDEMPOTENCY_KEY": "iterate-key-1"}
    first = api.post("/api/generations/", body, format="json", **headers)
    again = api.post("/api/generations/", body, format="json", **headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Generation.objects.count() == 3  # the parent and its two variations, once


def test_choosing_an_unfinished_variation_is_a_409(api, plan, user):
    parent = create_with_variations(
        GenerationRequest(variations=2, scenes=plan), owner=user, enqueue=False
    )
    response = api.post(detail_url(parent, "variations/1/choose"))
    assert response.status_code == 409
    assert "choose it once it has finished" in response.json()["detail"]


def test_variations_and_choosing_count_against_the_active_cap(api, plan, user, settings):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_ACTIVE_PER_USER": 3}
    too_many = api.post("/api/generations/", {"scenes": plan, "variations": 4}, format="json")
    assert too_many.status_code == 429  # four variations need four places; nothing is stored
    assert Generation.objects.count() == 0
    parent = create_with_variations(GenerationRequest(variations=2, scenes=plan), owner=user)
    for _ in range(3):  # the owner fills the cap with other work
        create_generation(GenerationRequest(scenes=plan), owner=user, enqueue=False)
    response = api.post(detail_url(parent, "variations/1/choose"))
    assert response.status_code == 429
    parent.refresh_from_db()
    assert parent.status == Generation.Status.AWAITING_CHOICE
