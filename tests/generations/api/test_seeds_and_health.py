"""Seed lookup, the health check, the schema and unknown paths."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.db import OperationalError

from generations.api import health
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest

pytestmark = pytest.mark.django_db


def make(plan, owner, **kwargs) -> Generation:
    return create_generation(GenerationRequest(scenes=plan, **kwargs), owner=owner, enqueue=False)


def ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {item["id"] for item in response.json()["results"]}


# --- seeds ------------------------------------------------------------------------------------


def test_seed_lookup_finds_the_callers_generations_with_that_seed(api, plan, user, other_user):
    mine = make(plan, user, seed=99)
    make(plan, user, seed=100)
    make(plan, other_user, seed=99)

    assert ids(api.get("/api/seeds/99/")) == {str(mine.pk)}


def test_seed_lookup_finds_a_seed_sent_to_a_scene(api, plan, user):
    # Offset mode: scene 3 got seed + 2.
    generation = make(plan, user, seed=10, coherence_settings={"seed_mode": "offset"})
    Scene.objects.filter(generation=generation, index=2).update(seed=12)

    assert ids(api.get("/api/seeds/12/")) == {str(generation.pk)}


def test_staff_seed_lookup_sees_everyone(staff_api, plan, user, other_user):
    make(plan, user, seed=5)
    make(plan, other_user, seed=5)

    assert len(ids(staff_api.get("/api/seeds/5/"))) == 2


def test_an_unused_seed_finds_nothing(api):
    assert api.get("/api/seeds/0/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5", "2147483648", "99999999999999999999"])
def test_a_seed_that_is_no_seed_is_a_400(api, seed):
    response = api.get(f"/api/seeds/{seed}/")

    assert response.status_code == 400
    assert response.json()["errors"] == {"seed": ["A seed is a whole number from 0 to 2147483647."]}


# --- health -----------------------------------------------------------------------------------


def test_health_is_ok_without_credentials_and_says_nothing_more(anonymous):
    response = anonymous.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_details_are_for_staff(staff_api, api):
    assert staff_api.get("/api/health/").json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
    }
    assert api.get("/api/health/").json() == {"status": "ok"}


def test_health_ignores_a_bad_token(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token stale")

    response = anonymous.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


class BrokenCursorConnection:
    def cursor(self):
        raise OperationalError("connection refused")


class SilentBroker:
    def ping(self) -> bool:
        return False

    def info(self) -> str:
        return "Redis 7"


def test_health_is_503_when_the_database_is_down(staff_api, monkeypatch):
    monkeypatch.setattr(health, "connection", BrokenCursorConnection())

    response = staff_api.get("/api/health/")

    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "database": "unreachable: connection refused",
        "broker": "ok",
    }


def test_health_is_503_when_the_broker_does_not_answer(staff_api, monkeypatch):
    monkeypatch.setattr(health, "get_broker", SilentBroker)

    response = staff_api.get("/api/health/")

    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable: Redis 7 did not answer"


def test_health_is_503_when_the_broker_raises(staff_api, monkeypatch):
    def refuse():
        raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(health, "get_broker", refuse)

    response = staff_api.get("/api/health/")

    assert response.status_code == 503
    assert "Connection refused" in response.json()["broker"]


# --- schema, docs, unknown paths ----------------------------------------------------------------


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )

    assert "/api/generations/{id}/regenerate/" in (tmp_path / "schema.yaml").read_text()


def test_the_schema_and_swagger_ui_are_served(anonymous):
    schema = anonymous.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths) == {
        "/api/generations/",
        "/api/generations/{id}/",
        "/api/generations/{id}/regenerate/",
        "/api/generations/{id}/cancel/",
        "/api/generations/{id}/coherence/",
        "/api/generations/{id}/scenes/{number}/rerender/",
        "/api/generations/{id}/finalize/",
        "/api/generations/{id}/variations/",
        "/api/generations/{id}/variations/{number}/choose/",
        "/api/generations/estimate/",
        # Media URLs have no trailing slash, as the *_url fields give them.
        "/api/generations/{generation_id}/{kind}",
        "/api/generations/{generation_id}/scenes/{number}/{kind}",
        "/api/seeds/{seed}/",
        "/api/health/",
        "/api/webhooks/replicate/",
        "/api/webhook-secret/",
    }
    assert set(paths["/api/generations/"]["post"]["responses"]) == {
        "200",
        "201",
        "400",
        "401",
        "403",
        "413",
        "415",
        "422",
        "429",
    }
    assert anonymous.get("/api/docs/").status_code == 200


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_pages_load_their_scripts_from_this_server(anonymous, page):
    """Swagger UI and Redoc come from drf-spectacular-sidecar: the pages work offline."""
    html = anonymous.get(page).content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts, html
    assert all(src.startswith("/static/") for src in scripts), scripts
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_an_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/videos/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_missing_trailing_slash_is_pointed_out(api):
    response = api.get("/api/generations")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found. API paths end with a slash: /api/generations/"}


@pytest.fixture
def broker_down_with_password_in_url(monkeypatch):
    def refuse():
        raise ConnectionError("Error 111 connecting to redis://:hunter2@10.1.2.3:6379.")

    monkeypatch.setattr(health, "get_broker", refuse)


@pytest.mark.usefixtures("broker_down_with_password_in_url")
def test_anonymous_health_never_shows_why_it_fails(anonymous):
    response = anonymous.get("/api/health/")

    assert response.status_code == 503
    assert response.json() == {"status": "fail"}


@pytest.mark.usefixtures("broker_down_with_password_in_url")
def test_staff_health_details_mask_passwords(staff_api):
    broker = staff_api.get("/api/health/").json()["broker"]

    assert "hunter2" not in broker
    assert "redis://:***@10.1.2.3:6379" in broker
