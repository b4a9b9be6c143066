"""Every operation of the served schema documents the statuses it really answers, with the error
body it really sends: walked over the whole schema (not a list kept by hand), so a new operation
is held to it too.

- no credentials: 401 wherever the schema asks for them;
- a staff member who may only view another user's generation: 403 on every write to it;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 wherever a body is read;
- a body that is not JSON: a documented status (415 where the schema says 415).

Each answer is also validated against the schema (schemathesis) for its status.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client as DjangoClient
from rest_framework.authtoken.models import Token
from werkzeug.test import Client

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.generations.api.test_webhooks import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_tests_connection():
    """The WSGI handler closes a connection left in a transaction at each request's end, which on
    PostgreSQL is this test's own (SQLite's in-memory database ignores the close). Django's test
    client unhooks the same signal handler for the same reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def openapi() -> dict:
    return json.loads(DjangoClient().get("/api/schema/?format=json").content)


@pytest.fixture(scope="module")
def validator(openapi):
    return schemathesis.openapi.from_dict(openapi)


def operations(openapi: dict):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method.upper(), operation


def concrete(path: str, operation: dict, generation: Generation) -> str:
    """The path with a real generation's id, scene/variation 1, and each enum's first value."""
    values = {"id": generation.pk, "generation_id": generation.pk, "number": 1, "seed": 1}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and "enum" in parameter["schema"]:
            values[parameter["name"]] = parameter["schema"]["enum"][0]
    return path.format(**values)


@pytest.fixture
def preview(user, plan) -> Generation:
    """A preview with a seed: finalizable, so finalize reaches its body."""
    generation = create_generation(
        GenerationRequest(scenes=plan, quality=Generation.Quality.PREVIEW, seed=1),
        owner=user,
        enqueue=False,
    )
    assert generation.seed == 1
    return generation


def headers_for(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def check(validator, path, method, response, expected: int, openapi) -> None:
    documented = openapi["paths"][path][method.lower()]["responses"]
    body = response.get_data(as_text=True)
    assert response.status_code == expected, f"{method} {path}: {response.status_code} {body}"
    assert str(expected) in documented, f"{method} {path} answers {expected}, undocumented"
    validator[path][method].validate_response(response)


def test_every_operation_that_needs_credentials_documents_its_401(openapi, validator, preview):
    client = Client(get_wsgi_application())
    checked = 0
    for path, method, operation in operations(openapi):
        if not operation.get("security"):
            continue
        url = concrete(path, operation, preview)
        response = client.open(url, method=method, json={} if "requestBody" in operation else None)
        check(validator, path, method, response, 401, openapi)
        checked += 1
    assert checked >= 15  # every generation, media and seed operation


def test_every_write_a_view_only_staff_member_tries_documents_its_403(
    openapi, validator, preview, django_user_model
):
    viewer = django_user_model.objects.create_user(username="vera", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client = Client(get_wsgi_application())
    writes = [
        (path, method, operation)
        for path, method, operation in operations(openapi)
        if "{id}" in path and method != "GET"
    ]
    for path, method, operation in writes:
        url = concrete(path, operation, preview)
        response = client.open(url, method=method, headers=headers_for(viewer), json={})
        check(validator, path, method, response, 403, openapi)
    assert len(writes) >= 6  # regenerate, cancel, delete, re-render, finalize, choose


def test_every_operation_that_reads_a_body_documents_its_413(
    openapi, validator, preview, user, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.REPLICATE_WEBHOOK_SECRET = SECRET  # else the receiver answers 503 before reading
    client = Client(get_wsgi_application())
    body = json.dumps({"title": "x" * 2048})
    readers = [op for op in operations(openapi) if "requestBody" in op[2]]
    for path, method, operation in readers:
        url = concrete(path, operation, preview)
        response = client.open(
            url,
            method=method,
            headers=headers_for(user),
            data=body,
            content_type="application/json",
        )
        check(validator, path, method, response, 413, openapi)
    assert len(readers) >= 6  # create, estimate, regenerate, re-render, finalize, webhook


def test_a_body_that_is_not_json_gets_a_documented_answer(openapi, validator, preview, user):
    client = Client(get_wsgi_application())
    for path, method, operation in operations(openapi):
        if "requestBody" not in operation:
            continue
        url = concrete(path, operation, preview)
        response = client.open(
            url, method=method, headers=headers_for(user), data="x", content_type="text/plain"
        )
        documented = operation["responses"]
        expected = 415 if "415" in documented else response.status_code
        check(validator, path, method, response, expected, openapi)


def test_every_session_write_without_its_csrf_token_documents_its_403(openapi, preview, user):
    """A session cookie is documented as a way in (cookieAuth): without the CSRF token DRF refuses
    every unsafe method with a 403, which each such operation says."""
    client = DjangoClient(enforce_csrf_checks=True)
    client.force_login(user)
    writes = [
        (path, method, operation)
        for path, method, operation in operations(openapi)
        if method != "GET" and {"cookieAuth": []} in operation.get("security", [])
    ]
    for path, method, operation in writes:
        url = concrete(path, operation, preview)
        response = client.generic(method, url, "{}", content_type="application/json")
        assert response.status_code == 403, f"{method} {path}: {response.content}"
        assert "403" in operation["responses"], f"{method} {path} answers 403, undocumented"
        assert response.json()["detail"].startswith("CSRF Failed")
    assert len(writes) >= 8  # create, estimate, regenerate, cancel, delete, re-render, ...
