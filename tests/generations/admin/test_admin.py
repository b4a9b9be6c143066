"""The Generation admin: list, search, filters, the change page, actions and the seed lookup."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import SEED_MAX, Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:generations_generation_changelist")
SEED_LOOKUP = reverse("admin:generations_generation_seed_lookup")


def change_url(generation: Generation) -> str:
    return reverse("admin:generations_generation_change", args=[generation.pk])


def stored(plan, owner=None, **kwargs) -> Generation:
    """A generation stored but not run: cheap, for list/search/filter tests."""
    return create_generation(GenerationRequest(scenes=plan, **kwargs), owner=owner, enqueue=False)


def listed(response) -> set[Generation]:
    return set(response.context["cl"].result_list)


def run_action(client, action: str, *generations: Generation):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(g.pk) for g in generations], "index": 0},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- list ----------------------------------------------------------------------------------------


def test_the_list_shows_seed_status_progress_score_and_model(staff_client, finished):
    response = staff_client.get(CHANGELIST)
    html = response.content.decode()
    assert finished in listed(response)
    assert str(finished.seed) in html
    assert f"{finished.coherence_score:.3f}" in html
    assert '<progress max="100" value="100">' in html
    assert "succeeded" in html
    assert finished.model in html


def test_the_list_runs_a_fixed_number_of_queries_however_many_rows(
    staff_client, plan, user, settings
):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_ACTIVE_PER_USER": 10}
    stored(plan, owner=user)
    with CaptureQueriesContext(connection) as one_row:
        staff_client.get(CHANGELIST)
    for _ in range(5):
        stored(plan, owner=user)
    with CaptureQueriesContext(connection) as six_rows:
        staff_client.get(CHANGELIST)
    assert len(six_rows) == len(one_row)


def test_the_list_links_to_the_seed_lookup(staff_client):
    assert SEED_LOOKUP in staff_client.get(CHANGELIST).content.decode()


# --- search --------------------------------------------------------------------------------------


def test_search_by_seed_matches_the_seed_exactly(staff_client, plan):
    wanted = stored(plan, seed=123)
    stored(plan, seed=1234)
    stored(plan, seed=12)
    assert listed(staff_client.get(CHANGELIST, {"q": "123"})) == {wanted}


def test_search_by_a_scenes_prediction_id(staff_client, plan):
    wanted, other = stored(plan), stored(plan)
    Scene.objects.filter(generation=wanted, index=2).update(prediction_id="pred-abc-42")
    Scene.objects.filter(generation=other, index=2).update(prediction_id="pred-abc-4")
    assert listed(staff_client.get(CHANGELIST, {"q": "pred-abc-42"})) == {wanted}


def test_search_by_part_of_the_title(staff_client, plan):
    wanted = stored(plan, title="A red fox in snow")
    stored(plan, title="A lake")
    assert listed(staff_client.get(CHANGELIST, {"q": "fox"})) == {wanted}


@pytest.mark.parametrize("term", ["-5", str(SEED_MAX + 1), "12.5", "seed 7"])
def test_a_search_that_is_no_seed_does_not_break_the_list(staff_client, plan, term):
    stored(plan, seed=5)
    response = staff_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert listed(response) == set()


# --- filters -------------------------------------------------------------------------------------


def test_filter_by_seed_control(staff_client, plan):
    on = stored(plan)
    off = stored(plan, coherence_settings={"seed_control": False})
    assert listed(staff_client.get(CHANGELIST, {"seed_control": "on"})) == {on}
    assert listed(staff_client.get(CHANGELIST, {"seed_control": "off"})) == {off}


def test_filter_by_latent_reuse(staff_client, plan):
    on = stored(plan)
    off = stored(plan, coherence_settings={"latent_reuse": False})
    assert listed(staff_client.get(CHANGELIST, {"latent_reuse": "on"})) == {on}
    assert listed(staff_client.get(CHANGELIST, {"latent_reuse": "off"})) == {off}


def test_filter_by_status(staff_client, plan, finished):
    waiting = stored(plan)
    assert listed(staff_client.get(CHANGELIST, {"status__exact": "queued"})) == {waiting}
    assert listed(staff_client.get(CHANGELIST, {"status__exact": "succeeded"})) == {finished}


# --- change page ---------------------------------------------------------------------------------


def test_the_change_page_shows_seed_recipe_players_picture_and_boundaries(staff_client, finished):
    html = staff_client.get(change_url(finished)).content.decode()
    assert f'<strong class="coherence-seed">{finished.seed}</strong>' in html
    assert "&quot;coherence_settings&quot;" in html  # the recipe, as pretty JSON
    assert f'src="/api/generations/{finished.pk}/video"' in html
    for scene in finished.scenes.all():
        assert f'src="/api/generations/{finished.pk}/scenes/{scene.number}/clip"' in html
    assert "<svg" in html
    assert "<td>1 → 2</td>" in html
    # Plan and verdict side by side: the local model's hand-overs are seen as continuous.
    assert '<td class="kind">continuous</td>' in html and '<td class="kind">cut</td>' in html
    assert "✘ failed hand-over</span>" not in html
    assert reverse("generations:detail", args=[finished.pk]) in html


def test_a_failed_handover_is_flagged_in_the_list_the_table_and_the_picture(staff_client, finished):
    report = dict(finished.coherence_report)
    boundaries = [dict(b) for b in report["boundaries"]]
    boundaries[1].update(continuous=True, kind="continuous", failed_handover=True)
    report["boundaries"] = boundaries
    Generation.objects.filter(pk=finished.pk).update(coherence_report=report)
    html = staff_client.get(change_url(finished)).content.decode()
    assert '<span class="coherence-flag">✘ failed hand-over</span>' in html  # boundary table
    assert "FAILED HAND-OVER" in html  # the picture (inline SVG)
    listing = staff_client.get(reverse("admin:generations_generation_changelist")).content
    assert "✘ 1 failed hand-over" in listing.decode()


def test_the_change_page_shows_what_each_scene_was_sent(staff_client, finished):
    html = staff_client.get(change_url(finished)).content.decode()
    assert html.count("✔ applied") == 4
    assert "final latent from scene 1" in html
    assert "final latent from scene 3" in html


def test_a_seed_the_model_did_not_apply_is_flagged_with_its_note(staff_client, finished):
    Scene.objects.filter(generation=finished, index=1).update(
        seed_applied=False, seed_note="422: the model has no seed input"
    )
    html = staff_client.get(change_url(finished)).content.decode()
    assert "✘ NOT applied" in html
    assert "422: the model has no seed input" in html


def test_the_change_page_links_the_source_and_its_regenerations(staff_client, plan):
    source = stored(plan, title="Original")
    copy = create_generation(
        GenerationRequest(scenes=plan, title="Copy", source_generation=source), enqueue=False
    )
    assert change_url(copy) in staff_client.get(change_url(source)).content.decode()
    assert change_url(source) in staff_client.get(change_url(copy)).content.decode()


def test_the_change_page_shows_warnings_and_the_error(staff_client, plan):
    generation = stored(plan)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.FAILED,
        warnings=["Scene 2: the seed was NOT applied"],
        error="Scene 3 failed: out of credit",
    )
    html = staff_client.get(change_url(generation)).content.decode()
    assert "<li>Scene 2: the seed was NOT applied</li>" in html
    assert "Scene 3 failed: out of credit" in html


def test_a_queued_generation_says_its_seed_is_not_drawn_yet(staff_client, queued):
    assert "not drawn yet" in staff_client.get(change_url(queued)).content.decode()


def test_generations_cannot_be_added_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:generations_generation_add")).status_code == 403


# --- actions -------------------------------------------------------------------------------------


def test_staff_who_may_only_view_get_no_actions(client, django_user_model, queued):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user(username="viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client.force_login(viewer)

    listing = client.get(reverse("admin:generations_generation_changelist"))
    run_action(client, "cancel", queued)

    assert listing.status_code == 200
    assert "regenerate_same_seed" not in listing.content.decode()
    queued.refresh_from_db()
    assert queued.status == Generation.Status.QUEUED


def test_regenerate_with_the_same_seed(staff_client, finished):
    response = run_action(staff_client, "regenerate_same_seed", finished)
    new = Generation.objects.exclude(pk=finished.pk).get()
    assert new.source_generation == finished
    assert new.seed == finished.seed
    assert new.status == Generation.Status.SUCCEEDED
    [message] = messages_of(response)
    assert f"with the same seed {finished.seed}" in message
    assert change_url(new) in message
    assert reverse("generations:detail", args=[new.pk]) in message


def test_regenerate_with_a_new_seed(staff_client, finished):
    response = run_action(staff_client, "regenerate_new_seed", finished)
    new = Generation.objects.exclude(pk=finished.pk).get()
    assert new.source_generation == finished
    assert new.seed is not None
    assert new.seed != finished.seed
    [message] = messages_of(response)
    assert f"with seed {new.seed}" in message


def test_regenerating_a_generation_without_a_seed_yet_is_refused(staff_client, queued):
    response = run_action(staff_client, "regenerate_same_seed", queued)
    assert Generation.objects.count() == 1
    [message] = messages_of(response)
    assert "has no seed yet" in message


def test_a_regeneration_the_services_refuse_is_reported(staff_client, plan):
    source = stored(plan, seed=7)
    Generation.objects.filter(pk=source.pk).update(model="retired/model")
    response = run_action(staff_client, "regenerate_same_seed", source)
    assert Generation.objects.count() == 1
    [message] = messages_of(response)
    assert "Could not regenerate" in message
    assert "retired/model" in message


def test_cancel_a_generation_that_has_not_finished(staff_client, queued):
    response = run_action(staff_client, "cancel", queued)
    queued.refresh_from_db()
    assert queued.status == Generation.Status.CANCELED
    assert set(queued.scenes.values_list("status", flat=True)) == {Scene.Status.CANCELED}
    [message] = messages_of(response)
    assert message.startswith("Canceled")
    assert change_url(queued) in message


def test_cancel_leaves_a_finished_generation_alone(staff_client, finished):
    response = run_action(staff_client, "cancel", finished)
    finished.refresh_from_db()
    assert finished.status == Generation.Status.SUCCEEDED
    [message] = messages_of(response)
    assert "unchanged: already finished" in message


# --- seed lookup ---------------------------------------------------------------------------------


def test_seed_lookup_lists_every_generation_and_scene_with_the_seed(staff_client, finished, plan):
    other = stored(plan, seed=(finished.seed + 1) % SEED_MAX)
    response = staff_client.get(SEED_LOOKUP, {"seed": finished.seed})
    html = response.content.decode()
    assert response.context["generations"] == [finished]
    assert {s.generation_id for s in response.context["scenes"]} == {finished.pk}
    assert len(response.context["scenes"]) == 4
    assert f'src="/api/generations/{finished.pk}/video"' in html
    assert all(
        f'src="/api/generations/{finished.pk}/scenes/{s.number}/clip"' in html
        for s in finished.scenes.all()
    )
    assert change_url(other) not in html


def test_seed_lookup_says_when_nothing_used_the_seed(staff_client):
    html = staff_client.get(SEED_LOOKUP, {"seed": 99}).content.decode()
    assert "No generation used this seed." in html
    assert "No scene was sent this seed." in html


def test_seed_lookup_without_a_seed_shows_just_the_form(staff_client):
    response = staff_client.get(SEED_LOOKUP)
    assert response.status_code == 200
    assert response.context["generations"] is None
    assert not response.context["form"].errors


@pytest.mark.parametrize("seed", ["abc", "1.5", "-1", str(SEED_MAX + 1), ""])
def test_seed_lookup_turns_bad_input_into_a_form_error(staff_client, seed):
    response = staff_client.get(SEED_LOOKUP, {"seed": seed})
    assert response.status_code == 200
    assert response.context["form"].errors["seed"]
    assert response.context["generations"] is None


def test_seed_lookup_is_for_staff_only(client, user):
    client.force_login(user)
    response = client.get(SEED_LOOKUP, {"seed": 1})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
