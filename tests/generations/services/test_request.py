"""One definition of a create request: the GenerationRequest value. The API's create body, the
service and the admin/command surfaces all read their fields from it."""

from __future__ import annotations

import inspect
from dataclasses import fields

from generations.api.serializers.create import GenerationCreateSerializer
from generations.iterate.variations import create_with_variations
from generations.services.create import create_generation
from generations.services.idempotency import create_generation_idempotent
from generations.services.request import API_FIELDS, GenerationRequest


def test_the_api_create_body_is_the_requests_fields():
    assert GenerationCreateSerializer.FIELDS == API_FIELDS
    assert set(GenerationCreateSerializer().fields) == set(API_FIELDS)


def test_only_reproduction_fields_stay_out_of_the_api():
    hidden = {item.name for item in fields(GenerationRequest)} - set(API_FIELDS)
    assert hidden == {"model_version", "source_generation"}


def test_every_creating_service_takes_the_request_and_only_who_asks_beside_it():
    for service in (create_generation, create_with_variations, create_generation_idempotent):
        parameters = inspect.signature(service).parameters
        assert next(iter(parameters)) == "request"
        assert set(parameters) - {"request"} <= {
            "owner",
            "actor",
            "enqueue",
            "idempotency_key",
            "creator",
        }


def test_an_idempotency_fingerprint_reads_the_body_not_its_defaults():
    plain = GenerationRequest(scenes=[{"prompt": "a fox", "duration": 1.0}])
    explicit = GenerationRequest(scenes=plain.scenes, title="", quality="full")
    assert plain.body_fields() == explicit.body_fields() == {"scenes": plain.scenes}
    assert GenerationRequest(scenes=plain.scenes, seed=7).body_fields()["seed"] == 7
