"""Roles for tests of who may see and do what: an owner, another user, staff with each
permission, a superuser; generations with real files in the media storage (written through the
FileFields' storage, as the pipeline stores them), without paying for a render.

Fixtures: a conftest that needs them imports them by name.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.support.api import client_for

PERMISSIONS = {
    "staff_none": [],
    "staff_view": ["view_generation"],
    "staff_change": ["view_generation", "change_generation"],
    "staff_delete": ["view_generation", "delete_generation"],
}


@pytest.fixture
def make_user(django_user_model) -> Callable[..., object]:
    def make(name: str, *, staff: bool = False, superuser: bool = False, perms=()) -> object:
        user = django_user_model.objects.create_user(
            username=name, password=f"pw-{name}-123", is_staff=staff, is_superuser=superuser
        )
        for codename in perms:
            user.user_permissions.add(Permission.objects.get(codename=codename))
        return django_user_model.objects.get(pk=user.pk)  # a fresh permission cache

    return make


@pytest.fixture
def roles(make_user, user) -> dict[str, object]:
    """Every role by name; "owner" is the ``user`` fixture (ada)."""
    people = {"owner": user, "other": make_user("mallory")}
    for role, perms in PERMISSIONS.items():
        people[role] = make_user(role, staff=True, perms=perms)
    people["superuser"] = make_user("root", staff=True, superuser=True)
    return people


@pytest.fixture
def clients(roles) -> dict[str, APIClient]:
    return {"anonymous": APIClient(), **{role: client_for(u) for role, u in roles.items()}}


def stored_generation(owner, plan, *, payload: bytes, status=Generation.Status.SUCCEEDED):
    """A generation whose video and scene files exist in the media storage."""
    generation = create_generation(
        GenerationRequest(scenes=plan, title="stored"), owner=owner, enqueue=False
    )
    generation.video.save("video.mp4", ContentFile(payload + b"-video"), save=False)
    generation.status = status
    generation.save()
    for scene in generation.scenes.all():
        stem = f"scene-{scene.number:02d}"
        scene.clip.save(f"{stem}.mp4", ContentFile(payload + b"-clip"), save=False)
        scene.last_frame.save(f"{stem}.last.png", ContentFile(payload + b"-frame"), save=False)
        scene.final_latent.save(f"{stem}.latent.npy", ContentFile(payload + b"-latent"), save=False)
        scene.status = Scene.Status.SUCCEEDED
        scene.save()
    return Generation.objects.get(pk=generation.pk)


@pytest.fixture
def two_plan(plan) -> list[dict]:
    return plan[:2]


@pytest.fixture
def mine(user, two_plan, media_root) -> Generation:
    return stored_generation(user, two_plan, payload=b"ADA-SECRET")


@pytest.fixture
def theirs(roles, two_plan, media_root) -> Generation:
    return stored_generation(roles["other"], two_plan, payload=b"MALLORY-SECRET")
