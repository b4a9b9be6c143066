"""Errors and logs: every 500 logged with method, path, user and request id; bad bodies are 4xx;
no error page shows a path or a trace."""

from __future__ import annotations

import json
import logging

import pytest
from rest_framework.test import APIClient

from generations.api import views
from generations.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_list(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom at /srv/secret/path")

    monkeypatch.setattr(views.GenerationViewSet, "list", explode)


@pytest.mark.usefixtures("broken_list")
def test_a_500_is_logged_with_method_path_user_and_request_id(api, user, caplog):
    api.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="coherence.requests"):
        response = api.get("/api/generations/?page=1", HTTP_X_REQUEST_ID="req-42")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-42"
    assert response.json() == {
        "detail": "Server error; it has been logged.",
        "request_id": "req-42",
    }
    [record] = [r for r in caplog.records if r.name == "coherence.requests"]
    message = record.getMessage()
    assert "GET '/api/generations/'" in message
    assert f"user={user.pk}" in message and "request_id=req-42" in message
    assert record.exc_info is not None  # the traceback goes to the log, not to the client


@pytest.mark.usefixtures("broken_list")
def test_the_500_page_shows_no_trace_and_no_path(api):
    api.raise_request_exception = False
    body = api.get("/api/generations/").content.decode()
    assert "Traceback" not in body and "/srv/secret" not in body and "boom" not in body


def test_every_response_carries_a_request_id(anonymous_client):
    first = anonymous_client.get("/api/health/")["X-Request-ID"]
    second = anonymous_client.get("/api/health/")["X-Request-ID"]
    assert len(first) == 32 and first != second


@pytest.mark.parametrize("forged", ["a\nb", "x" * 65, "<script>", "id with spaces"])
def test_a_forged_request_id_is_replaced(anonymous_client, forged):
    response = anonymous_client.get("/api/health/", HTTP_X_REQUEST_ID=forged)
    assert response["X-Request-ID"] != forged and len(response["X-Request-ID"]) == 32


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


def nested(depth: int) -> str:
    return '{"scenes": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [40, 5_000, 200_000])
def test_json_nested_past_the_limit_is_a_400(api, depth):
    response = api.generic(
        "POST", "/api/generations/", nested(depth), content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested deeper than 32" in response.json()["detail"]
    assert Generation.objects.count() == 0


def test_ordinary_nesting_still_parses(api):
    response = api.generic("POST", "/api/generations/", nested(3), content_type="application/json")
    assert response.status_code == 400
    assert "errors" in response.json()  # a field error, not a parse error


def test_a_body_over_the_size_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"scenes": [{"prompt": "x" * 2000, "duration": 1}]})
    response = api.generic("POST", "/api/generations/", body, content_type="application/json")
    assert response.status_code == 413
    assert Generation.objects.count() == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(api, constant):
    body = '{"scenes": [{"prompt": "x", "duration": ' + constant + "}]}"
    response = api.generic("POST", "/api/generations/", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/media/generations/does-not-exist.mp4",
        "/media/../../etc/passwd",
        "/api/generations/00000000-0000-0000-0000-000000000000/video",
        "/nope/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_no_404_page_shows_a_file_path(api, media_root, path):
    response = api.get(path)
    assert response.status_code == 404
    assert str(media_root) not in response.content.decode(errors="replace")


def test_an_oversized_webhook_is_a_413_not_a_500(anonymous_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.REPLICATE_WEBHOOK_SECRET = "whsec_" + "A" * 32
    response = anonymous_client.generic(
        "POST", "/api/webhooks/replicate/", "x" * 5000, content_type="application/json"
    )
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["detail"]
