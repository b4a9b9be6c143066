"""Permissions mean what they say: the role x action matrix, in the API, the admin and the staff
page alike; and hosted models only for who holds ``use_hosted_models``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "owner",
    "other",
    "staff_none",
    "staff_view",
    "staff_change",
    "staff_delete",
    "superuser",
]
# What each role may do to the owner's generation: view (detail and list), cancel, regenerate,
# delete. A generation the caller may not see is a 404 (its existence is not revealed); one they
# may see but not act on is a 403.
MATRIX = {
    #               view cancel regenerate delete
    "anonymous": (401, 401, 401, 401),
    "owner": (200, 200, 201, 204),
    "other": (404, 404, 404, 404),
    "staff_none": (404, 404, 404, 404),
    "staff_view": (200, 403, 403, 403),
    "staff_change": (200, 200, 201, 403),
    "staff_delete": (200, 403, 403, 204),
    "superuser": (200, 200, 201, 204),
}
ACTIONS = ("view", "cancel", "regenerate", "delete")


def target(owner, plan, action: str) -> Generation:
    """Cancel needs an unfinished generation, delete a finished one."""
    generation = create_generation(
        GenerationRequest(scenes=plan, seed=7), owner=owner, enqueue=False
    )
    if action == "delete":
        Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.CANCELED)
    return Generation.objects.get(pk=generation.pk)


def perform(client, generation: Generation, action: str):
    url = f"/api/generations/{generation.pk}/"
    if action == "view":
        return client.get(url)
    if action == "delete":
        return client.delete(url)
    return client.post(f"{url}{action}/", {}, format="json")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_by_action_matrix_in_the_api(clients, roles, plan, role, action):
    generation = target(roles["owner"], plan[:1], action)
    before = (Generation.objects.count(), generation.status)

    response = perform(clients[role], generation, action)

    expected = MATRIX[role][ACTIONS.index(action)]
    assert response.status_code == expected, response.content
    if expected >= 400:  # refused: nothing changed, nothing created
        generation.refresh_from_db()
        assert (Generation.objects.count(), generation.status) == before


@pytest.mark.parametrize("role", ROLES[1:])
def test_the_list_shows_others_generations_only_with_view_permission(clients, roles, plan, role):
    mine = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["owner"], enqueue=False
    )
    own = create_generation(GenerationRequest(scenes=plan[:1]), owner=roles[role], enqueue=False)
    listed = {g["id"] for g in clients[role].get("/api/generations/").json()["results"]}
    sees_all = MATRIX[role][0] == 200
    assert (str(mine.pk) in listed) == sees_all
    assert str(own.pk) in listed  # everyone sees their own


@pytest.mark.parametrize("role", ROLES[1:])
def test_the_seed_lookup_follows_the_same_rule(clients, roles, plan, role):
    create_generation(
        GenerationRequest(scenes=plan[:1], seed=99), owner=roles["owner"], enqueue=False
    )
    found = clients[role].get("/api/seeds/99/").json()["results"]
    assert bool(found) == (MATRIX[role][0] == 200)


def test_deleting_an_unfinished_generation_asks_to_cancel_first(api, roles, plan):
    generation = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["owner"], enqueue=False
    )
    response = api.delete(f"/api/generations/{generation.pk}/")
    assert response.status_code == 409
    assert "cancel it" in response.json()["detail"]
    assert Generation.objects.filter(pk=generation.pk).exists()


# --- the admin and the staff page ----------------------------------------------------------------


def admin_client(client, user):
    client.force_login(user)
    return client


CHANGELIST = "/admin/generations/generation/"


@pytest.mark.parametrize(
    ("role", "list_code", "may_cancel"),
    [
        ("staff_none", 403, False),
        ("staff_view", 200, False),
        ("staff_delete", 200, False),
        ("staff_change", 200, True),
        ("superuser", 200, True),
    ],
)
def test_admin_list_and_cancel_action(client, roles, plan, role, list_code, may_cancel):
    generation = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["owner"], enqueue=False
    )
    staff = admin_client(client, roles[role])
    assert staff.get(CHANGELIST).status_code == list_code
    staff.post(
        CHANGELIST,
        {"action": "cancel", "_selected_action": [str(generation.pk)], "index": 0},
    )
    generation.refresh_from_db()
    expected = Generation.Status.CANCELED if may_cancel else Generation.Status.QUEUED
    assert generation.status == expected


@pytest.mark.parametrize("action", ["regenerate_same_seed", "regenerate_new_seed"])
@pytest.mark.parametrize(("role", "allowed"), [("staff_view", False), ("staff_change", True)])
def test_admin_regenerate_needs_change_permission(client, roles, plan, action, role, allowed):
    source = create_generation(
        GenerationRequest(scenes=plan[:1], seed=5), owner=roles["owner"], enqueue=False
    )
    admin_client(client, roles[role]).post(
        CHANGELIST, {"action": action, "_selected_action": [str(source.pk)], "index": 0}
    )
    assert Generation.objects.filter(source_generation=source).exists() == allowed


@pytest.mark.parametrize(("role", "allowed"), [("staff_view", False), ("staff_delete", True)])
def test_admin_delete_needs_delete_permission(client, roles, plan, role, allowed):
    generation = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["owner"], enqueue=False
    )
    staff = admin_client(client, roles[role])
    staff.post(f"{CHANGELIST}{generation.pk}/delete/", {"post": "yes"})
    assert Generation.objects.filter(pk=generation.pk).exists() != allowed


@pytest.mark.parametrize(
    ("role", "expected"),
    [("staff_none", 404), ("staff_view", 200), ("staff_change", 200), ("superuser", 200)],
)
def test_the_staff_page_shows_others_prompts_only_with_view_permission(
    client, roles, plan, role, expected
):
    generation = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["owner"], enqueue=False
    )
    staff = admin_client(client, roles[role])
    page = staff.get(reverse("generations:detail", args=[generation.pk]))
    progress = staff.get(reverse("generations:progress", args=[generation.pk]))
    assert (page.status_code, progress.status_code) == (expected, expected)
    assert (plan[0]["prompt"] in page.content.decode()) == (expected == 200)


def test_staff_without_permission_still_see_their_own_generation_page(client, roles, plan):
    own = create_generation(
        GenerationRequest(scenes=plan[:1]), owner=roles["staff_none"], enqueue=False
    )
    staff = admin_client(client, roles["staff_none"])
    assert staff.get(reverse("generations:detail", args=[own.pk])).status_code == 200


def test_the_admin_seed_lookup_is_scoped_too(client, roles, plan):
    create_generation(
        GenerationRequest(scenes=plan[:1], seed=4242), owner=roles["owner"], enqueue=False
    )
    lookup = reverse("admin:generations_generation_seed_lookup")
    assert admin_client(client, roles["staff_none"]).get(lookup, {"seed": 4242}).status_code == 403


# --- hosted models ------------------------------------------------------------------------------

HOSTED = {"scenes": [{"prompt": "a fox", "duration": 2.0}], "provider": "replicate"}


def grant_hosted(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="use_hosted_models"))


def test_hosted_models_need_the_permission(api, roles):
    response = api.post("/api/generations/", HOSTED, format="json")
    assert response.status_code == 403
    assert "use_hosted_models" in response.json()["detail"]
    assert Generation.objects.count() == 0


def test_with_the_permission_hosted_models_are_accepted(roles, clients):
    grant_hosted(roles["owner"])
    response = clients["owner"].post("/api/generations/", HOSTED, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["provider"] == "replicate"


def test_the_local_model_needs_no_permission(api):
    response = api.post("/api/generations/", {**HOSTED, "provider": "local"}, format="json")
    assert response.status_code == 201


def test_regenerating_a_hosted_generation_needs_the_permission_of_who_asks(clients, roles):
    grant_hosted(roles["owner"])
    source = create_generation(
        GenerationRequest(scenes=HOSTED["scenes"], provider="replicate", seed=3),
        owner=roles["owner"],
        enqueue=False,
    )
    # staff_change may regenerate others' generations, but not spend on hosted models
    refused = clients["staff_change"].post(
        f"/api/generations/{source.pk}/regenerate/", {}, format="json"
    )
    assert refused.status_code == 403
    assert Generation.objects.count() == 1
    accepted = clients["owner"].post(f"/api/generations/{source.pk}/regenerate/", {}, format="json")
    assert accepted.status_code == 201


def test_admin_regenerate_of_a_hosted_generation_needs_the_permission(client, roles):
    grant_hosted(roles["owner"])
    source = create_generation(
        GenerationRequest(scenes=HOSTED["scenes"], provider="replicate", seed=3),
        owner=roles["owner"],
        enqueue=False,
    )
    response = admin_client(client, roles["staff_change"]).post(
        CHANGELIST,
        {"action": "regenerate_same_seed", "_selected_action": [str(source.pk)], "index": 0},
        follow=True,
    )
    assert "use_hosted_models" in response.content.decode()
    assert Generation.objects.count() == 1
