"""Live input schemas: parsing cog's OpenAPI, the fingerprint, and registry disagreements."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal

import pytest

from pipeline.planning import PlannedScene, estimate_cost, plan_problems, start_image_origin
from pipeline.providers.registry import (
    BUILTIN_MODELS,
    KLING_V21,
    MINIMAX_VIDEO_01,
    SEEDANCE_LITE,
    WAN_I2V_FAST,
)
from pipeline.providers.schema import (
    InputSchema,
    SchemaError,
    disagreements,
    fingerprint,
    input_component,
    needs_start_image,
    takes_seed,
)
from tests.doubles.model_schemas import SERVED_MODELS

SPECS = {spec.name: spec for spec in BUILTIN_MODELS}


def live(model: str) -> InputSchema:
    return InputSchema.from_openapi(copy.deepcopy(SERVED_MODELS[model].openapi_schema))


def test_enum_refs_are_resolved_inline():
    schema = live(KLING_V21)

    assert schema.enum("duration") == [5, 10]
    assert schema.enum("mode") == ["standard", "pro"]
    assert schema.properties["duration"]["default"] == 5
    assert schema.required == {"prompt", "start_image"}


def test_fingerprint_is_the_sha256_of_canonical_json_and_ignores_key_order():
    component = live(SEEDANCE_LITE).component
    reordered = dict(reversed(list(component.items())))

    assert fingerprint(component) == fingerprint(reordered)
    changed = copy.deepcopy(component)
    changed["properties"]["duration"]["maximum"] = 10
    assert fingerprint(changed) != fingerprint(component)


def test_a_body_without_an_input_component_is_a_schema_error():
    with pytest.raises(SchemaError):
        input_component({"components": {"schemas": {}}})
    with pytest.raises(SchemaError):
        input_component(None)


@pytest.mark.parametrize("model", sorted(SPECS.keys() & SERVED_MODELS.keys()))
def test_the_registry_agrees_with_every_served_schema(model):
    assert disagreements(SPECS[model], live(model)) == []


def test_disagreements_name_the_input_and_the_values():
    spec = dataclasses.replace(
        SPECS[KLING_V21], allowed_durations=(5.0, 7.0), seed_input="seed", required_inputs=set()
    )
    schema = live(KLING_V21)
    schema.component["required"].append("negative_prompt")

    found = disagreements(spec, schema)

    assert "seed: the registry uses it, the schema does not declare it" in found
    assert "negative_prompt: the schema requires it, the registry never fills it" in found
    assert "duration: registry values [7] are outside the schema's [5, 10]" in found


def test_seed_is_taken_only_when_registry_and_schema_both_say_so():
    lite = SPECS[SEEDANCE_LITE]
    schema = live(SEEDANCE_LITE)
    assert takes_seed(lite, None) and takes_seed(lite, schema)
    schema.component["properties"].pop("seed")
    assert not takes_seed(lite, schema)
    assert not takes_seed(SPECS[MINIMAX_VIDEO_01], live(MINIMAX_VIDEO_01))


def test_required_start_images_come_from_the_schema_else_the_registry():
    assert needs_start_image(SPECS[WAN_I2V_FAST], None)
    assert needs_start_image(SPECS[KLING_V21], live(KLING_V21))
    assert not needs_start_image(SPECS[SEEDANCE_LITE], live(SEEDANCE_LITE))


def test_start_image_origins_and_plan_problems():
    heads = [PlannedScene(0, 5, False), PlannedScene(1, 5, True), PlannedScene(2, 5, False, True)]
    sources = [start_image_origin(s, latent_reuse=True, has_reference=False) for s in heads]
    assert sources == [None, "previous", "scene"]

    problems = plan_problems(SPECS[KLING_V21], None, heads, latent_reuse=False, has_reference=False)
    assert set(problems) == {"scenes.0.image", "scenes.1.image"}  # no latent reuse: 2 is a head
    assert plan_problems(SPECS[KLING_V21], None, heads, latent_reuse=True, has_reference=True) == {}
    assert plan_problems(
        SPECS[WAN_I2V_FAST].__class__(name="acme/t2v", provider="replicate"),
        None,
        heads,
        latent_reuse=True,
        has_reference=False,
    ) == {"model": "Model acme/t2v takes no start image; remove the images."}


@pytest.mark.parametrize(
    ("model", "durations", "expected"),
    [
        (SEEDANCE_LITE, [5.0, 2.4], "0.1260"),  # 5 s + 2 s at $0.018/s (480p)
        (WAN_I2V_FAST, [2.0, 7.0], "0.1000"),  # per clip at 480p, any length
        (MINIMAX_VIDEO_01, [1.0], "0.5000"),  # one 6 s clip
        (KLING_V21, [3.0], "0.2500"),  # snapped to 5 s at $0.05/s (standard)
    ],
)
def test_estimates_bill_what_the_model_renders(model, durations, expected):
    estimate = estimate_cost(SPECS[model], durations, width=512, height=288, fps=24)

    assert estimate.total == Decimal(expected)


def test_an_unknown_price_makes_the_total_unknown():
    spec = SPECS[SEEDANCE_LITE].__class__(name="acme/x", provider="replicate")

    assert estimate_cost(spec, [5.0], width=512, height=288, fps=24).total is None
