"""Schemathesis against the live OpenAPI schema: no 5xx, and every answer matches the schema.

Bounded to stay fast in CI: a fixed number of examples per operation, derandomized, positive and
negative data. Created generations really render (django-q2 sync mode, transactional test DB);
to keep that cheap the run lowers the plan limits to 4 scenes of at most 2 s (the documented
example still fits, and renders), so a body the schema allows may get a documented 400 instead.
The create throttle is lifted, or it would answer most creates with 429. REPLICATE_WEBHOOK_SECRET
is set so the webhook receiver verifies (and refuses) what the fuzzer sends instead of 503.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers.replicate_webhooks import sign_webhook
from tests.generations.api.test_webhooks import SECRET

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# `make fuzz` runs a longer session; `make test` the bounded one.
MAX_EXAMPLES = int(os.environ.get("COHERENCE_FUZZ_EXAMPLES", "40"))

# Loaded at collection (the schema view needs no database). schemathesis.pytest.from_fixture would
# load it per test, but its lazy loader does not run under pytest 9 (it sets Node._nodeid).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def cheap_and_verifying(settings, media_root):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_SCENES": 4}
    settings.COHERENCE = {**settings.COHERENCE, "MAX_SCENE_SECONDS": 2.0}
    settings.REPLICATE_WEBHOOK_SECRET = SECRET
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"generation_create": "100000/min"},
    }


@pytest.fixture
def auth_headers(user, plan) -> dict[str, str]:
    # Something to find for the list and seed operations (and ids for the detail ones to learn).
    create_generation(GenerationRequest(scenes=plan, seed=1), owner=user, enqueue=False)
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_survives_fuzzing(case, auth_headers):
    case.call_and_validate(headers=auth_headers, checks=CHECKS)


# --- the success paths the fuzzer rarely reaches, checked against the same schema ---------------


def conforms(path: str, method: str, response) -> None:
    """The conformance checks the fuzzer runs, on one real answer: a documented status, a
    documented content type for it, and a body matching its schema."""
    operation = schema.raw_schema["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path}: {response.status_code} is undocumented"
    content_type = response.headers.get("Content-Type", "").split(";")[0]
    assert content_type in documented.get("content", {content_type: None}), content_type
    schema[path][method].validate_response(response)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_real_answers_of_every_operation_match_the_schema(auth_headers, user, plan):
    client = Client(get_wsgi_application())

    def check(method: str, path: str, url: str, expected: int, *, key: str = "", **kwargs):
        headers = {**auth_headers, **({"Idempotency-Key": key} if key else {})}
        response = client.open(url, method=method, headers=headers, **kwargs)
        assert response.status_code == expected, response.get_data(as_text=True)
        conforms(path, method, response)
        return response.get_json(silent=True)

    create = {"scenes": plan[:2], "seed": 7}
    created = check("POST", "/api/generations/", "/api/generations/", 201, json=create, key="k")
    assert created["status"] == "succeeded"
    check("POST", "/api/generations/", "/api/generations/", 200, json=create, key="k")
    check("POST", "/api/generations/", "/api/generations/", 422, json={"scenes": plan}, key="k")
    check("POST", "/api/generations/", "/api/generations/", 400, json={"scenes": []})
    check("GET", "/api/generations/", "/api/generations/?status=succeeded", 200)
    one = f"/api/generations/{created['id']}/"
    check("GET", "/api/generations/{id}/", one, 200)
    check("GET", "/api/generations/{id}/coherence/", one + "coherence/", 200)
    check("POST", "/api/generations/{id}/cancel/", one + "cancel/", 409)
    again = check("POST", "/api/generations/{id}/regenerate/", one + "regenerate/", 201, json={})
    assert again["seed_value"] == 7
    check("GET", "/api/seeds/{seed}/", "/api/seeds/7/", 200)
    waiting = create_generation(GenerationRequest(scenes=plan), owner=user, enqueue=False)
    queued = f"/api/generations/{waiting.pk}/"
    check("GET", "/api/generations/{id}/coherence/", queued + "coherence/", 409)
    check("POST", "/api/generations/{id}/cancel/", queued + "cancel/", 200)
    check("GET", "/api/health/", "/api/health/", 200)
    check("GET", "/api/generations/", "/api/generations/?ordering=title", 400)
    check("POST", "/api/generations/estimate/", "/api/generations/estimate/", 200, json=create)
    rerender = "/api/generations/{id}/scenes/{number}/rerender/"
    check("GET", rerender, one + "scenes/2/rerender/", 200)
    check("POST", rerender, one + "scenes/2/rerender/", 201, json={"prompt": "a fox at dusk"})
    preview = {"scenes": plan[:1], "quality": "preview"}
    small = check("POST", "/api/generations/", "/api/generations/", 201, json=preview)
    finalize, small_url = "/api/generations/{id}/finalize/", f"/api/generations/{small['id']}/"
    check("GET", finalize, small_url + "finalize/", 200)
    check("POST", finalize, small_url + "finalize/", 201, json={})
    asks = {"scenes": plan[:1], "variations": 2}
    parent = check("POST", "/api/generations/", "/api/generations/", 201, json=asks)
    parent_url = f"/api/generations/{parent['id']}/"
    check("GET", "/api/generations/{id}/variations/", parent_url + "variations/", 200)
    choose = "/api/generations/{id}/variations/{number}/choose/"
    check("POST", choose, parent_url + "variations/1/choose/", 200)
    check("POST", choose, parent_url + "variations/2/choose/", 409)
    media = "/api/generations/{generation_id}/{kind}"
    assert check("GET", media, f"/api/generations/{created['id']}/video", 200) is None
    scene_media = "/api/generations/{generation_id}/scenes/{number}/{kind}"
    check("GET", scene_media, f"/api/generations/{created['id']}/scenes/2/last-frame", 200)
    check("GET", scene_media, f"/api/generations/{created['id']}/scenes/2/start-image", 404)
    body = b'{"id": "no-such-prediction", "status": "succeeded"}'
    signed = sign_webhook(secret=SECRET, webhook_id="msg_9", timestamp=int(time.time()), body=body)
    receipt = client.post(
        "/api/webhooks/replicate/", data=body, content_type="application/json", headers=signed
    )
    conforms("/api/webhooks/replicate/", "POST", receipt)
    assert receipt.get_json() == {"status": "unknown prediction"}
