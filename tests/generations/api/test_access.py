"""Authentication and owner scoping: 401 without credentials, 404 for another user's generation."""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.support.api import client_for, detail_url

pytestmark = pytest.mark.django_db

OWNED_ENDPOINTS = [
    ("get", ""),
    ("post", "regenerate"),
    ("post", "cancel"),
    ("get", "coherence"),
]


def call(client, method: str, url: str):
    return getattr(client, method)(url, {}, format="json") if method == "post" else client.get(url)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/generations/"),
        ("post", "/api/generations/"),
        ("get", "/api/seeds/42/"),
    ],
)
def test_without_credentials_the_answer_is_401_with_a_token_challenge(anonymous, method, url):
    response = call(anonymous, method, url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(("method", "action"), OWNED_ENDPOINTS)
def test_without_credentials_a_generation_is_401(anonymous, queued, method, action):
    assert call(anonymous, method, detail_url(queued, action)).status_code == 401


def test_a_wrong_token_is_401(queued):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/generations/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.parametrize(("method", "action"), OWNED_ENDPOINTS)
def test_another_users_generation_is_a_404_on_every_verb(other_api, queued, method, action):
    response = call(other_api, method, detail_url(queued, action))

    assert response.status_code == 404
    assert response.json() == {"detail": "No Generation matches the given query."}
    queued.refresh_from_db()
    assert queued.status == Generation.Status.QUEUED
    assert Generation.objects.count() == 1  # no regeneration was made from it


def test_another_users_generation_is_not_in_the_list(other_api, queued):
    assert other_api.get("/api/generations/").json()["results"] == []


def test_staff_can_read_anyones_generation(staff_api, queued):
    assert staff_api.get(detail_url(queued)).status_code == 200


def test_session_login_works_too(client, user, queued):
    client.force_login(user)

    assert client.get(detail_url(queued)).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_media_is_served_only_to_who_may_see_the_generation(
    api, other_api, staff_api, plan, media_root
):
    from rest_framework.test import APIClient

    created = api.post("/api/generations/", {"scenes": plan[:1]}, format="json").json()
    video_url = api.get(f"/api/generations/{created['id']}/").json()["video_url"]
    path = "/" + video_url.split("/", 3)[3]

    assert api.get(path).status_code == 200
    assert staff_api.get(path).status_code == 200
    assert other_api.get(path).status_code == 404
    assert APIClient().get(path).status_code == 401


@pytest.mark.django_db
def test_provider_scratch_space_and_traversal_are_never_served(staff_api, media_root):
    (media_root / "local-predictions").mkdir()
    (media_root / "local-predictions" / "x.mp4").write_bytes(b"scratch")

    assert staff_api.get("/media/local-predictions/x.mp4").status_code == 404
    assert staff_api.get("/media/generations/../local-predictions/x.mp4").status_code == 404
