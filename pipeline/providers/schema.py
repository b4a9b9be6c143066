"""A hosted model's live input schema: parsing, fingerprint, and where the registry disagrees.

Replicate silently drops inputs a model does not declare (cog, 2026-04), so no error ever says a
seed was ignored: what a model takes is known only from its schema,
``GET /v1/models/{owner}/{name}`` -> ``latest_version.openapi_schema.components.schemas.Input``.
We store that component with cog's ``allOf`` $refs (enums live in sibling components) resolved
inline, so a stored schema is self-contained, and fingerprint it as the sha256 of its canonical
JSON. Plain Python on plain data: the caller fetches and stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry imports this module's pure helpers; annotations only here
    from pipeline.providers.registry import ModelSpec

JSON = dict[str, Any]


class SchemaError(ValueError):
    """A model answered with something that is not a cog input schema."""


def _resolve(prop: Mapping[str, Any], components: Mapping[str, Any]) -> JSON:
    """One property with its ``allOf: [{$ref}]`` parts merged in (its own keys win)."""
    merged: JSON = {}
    for part in prop.get("allOf", []) or []:
        ref = str(part.get("$ref", "")) if isinstance(part, Mapping) else ""
        target = components.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
        if isinstance(target, Mapping):
            merged.update({k: v for k, v in target.items() if k not in ("title", "description")})
    merged.update({k: v for k, v in prop.items() if k != "allOf"})
    return merged


def input_component(openapi_schema: Any) -> JSON:
    """The ``Input`` component of an OpenAPI schema, refs resolved; SchemaError if absent."""
    try:
        components = openapi_schema["components"]["schemas"]
        component = components["Input"]
        properties = component.get("properties") or {}
    except (KeyError, TypeError, AttributeError):
        raise SchemaError("the schema has no components.schemas.Input") from None
    if not isinstance(properties, Mapping):
        raise SchemaError("Input.properties is not an object")
    return {
        "type": "object",
        "required": sorted(str(name) for name in component.get("required") or []),
        "properties": {
            str(name): _resolve(prop, components)
            for name, prop in properties.items()
            if isinstance(prop, Mapping)
        },
    }


def declares_input(component: Mapping[str, Any] | None, name: str | None) -> bool:
    """Whether a stored Input component declares ``name`` (no component: False, since only a
    stored schema can prove an input exists; Replicate drops undeclared inputs silently)."""
    if not component or not name:
        return False
    properties = component.get("properties")
    return isinstance(properties, Mapping) and name in properties


def requires_input(component: Mapping[str, Any] | None, name: str | None) -> bool:
    """Whether a stored Input component lists ``name`` as required."""
    if not component or not name:
        return False
    return name in (component.get("required") or ())


def fingerprint(component: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of a stored Input component."""
    canonical = json.dumps(component, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InputSchema:
    """A stored Input component (as ``input_component`` returns it)."""

    component: JSON

    @classmethod
    def from_openapi(cls, openapi_schema: Any) -> InputSchema:
        return cls(input_component(openapi_schema))

    @property
    def properties(self) -> JSON:
        return self.component.get("properties", {})

    @property
    def required(self) -> frozenset[str]:
        return frozenset(self.component.get("required", []))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.component)

    def declares(self, name: str | None) -> bool:
        return declares_input(self.component, name)

    def enum(self, name: str) -> list[Any] | None:
        values = self.properties.get(name, {}).get("enum")
        return list(values) if isinstance(values, list) else None

    def bounds(self, name: str) -> tuple[float | None, float | None]:
        prop = self.properties.get(name, {})
        return prop.get("minimum"), prop.get("maximum")

    def allows(self, name: str, value: Any) -> bool:
        """Whether ``value`` is inside the enum and range the schema gives ``name``."""
        values = self.enum(name)
        if values is not None and value not in values:
            return False
        low, high = self.bounds(name)
        return not ((low is not None and value < low) or (high is not None and value > high))


def schema_or_none(component: Mapping[str, Any] | None) -> InputSchema | None:
    return InputSchema(dict(component)) if component else None


# --- what the model takes: schema first, registry otherwise ------------------------------------


def takes_seed(spec: ModelSpec, schema: InputSchema | None) -> bool:
    """Whether a seed sent to this model is used: the registry names a seed input and (when a
    schema is stored) the schema declares it."""
    if not spec.seed_input:
        return False
    return schema is None or schema.declares(spec.seed_input)


def seedless_reason(spec: ModelSpec, schema: InputSchema | None) -> str:
    """Why a seed would not reach this model (call only when ``takes_seed`` is False)."""
    if not spec.seed_input:
        return f"model {spec.name} has no seed input"
    return f"model {spec.name}'s input schema declares no {spec.seed_input!r} input"


def seed_warning(reason: str) -> str:
    """The generation warning for a seed that was not applied (one per model and reason)."""
    return f"Seed not applied: {reason}; its scenes are rendered without our seed."


def required_inputs(spec: ModelSpec, schema: InputSchema | None) -> frozenset[str]:
    return schema.required if schema is not None else spec.required_inputs


def needs_start_image(spec: ModelSpec, schema: InputSchema | None) -> bool:
    """Whether every chain head must be given a start image."""
    return bool(spec.first_frame_input) and spec.first_frame_input in required_inputs(spec, schema)


def filled_inputs(spec: ModelSpec) -> frozenset[str]:
    """Inputs the pipeline fills for every scene (the first-frame image only when it has one)."""
    named = {
        spec.prompt_input,
        spec.duration_input,
        spec.frames_input,
        spec.fps_input,
        spec.resolution_input,
        *spec.fixed_inputs,
    }
    named.discard(None)
    return frozenset(named)  # type: ignore[arg-type]


def unfillable_inputs(spec: ModelSpec, schema: InputSchema | None) -> list[str]:
    """Required inputs nothing in a plan can fill (not the start image: a plan can give that)."""
    fillable = filled_inputs(spec) | {spec.first_frame_input, spec.seed_input}
    return sorted(name for name in required_inputs(spec, schema) if name not in fillable)


# --- registry vs schema ---------------------------------------------------------------------


def _values_outside(schema: InputSchema, name: str, values: list[Any]) -> list[Any]:
    return [value for value in values if not schema.allows(name, value)]


def _value_disagreements(spec: ModelSpec, schema: InputSchema) -> list[str]:
    problems = []
    checks: list[tuple[str | None, list[Any]]] = [
        (
            spec.duration_input,
            [int(d) if d.is_integer() else d for d in spec.allowed_durations or ()],
        ),
        (spec.resolution_input, list(spec.allowed_resolutions or ())),
        (spec.fps_input, [spec.fps_value] if spec.fps_value else []),
        (spec.frames_input, list(spec.frames_range or ())),
    ]
    for name, values in checks:
        if not name or not schema.declares(name):
            continue
        outside = _values_outside(schema, name, values)
        if outside:
            allowed = schema.enum(name) or "range {}..{}".format(*schema.bounds(name))
            problems.append(f"{name}: registry values {outside} are outside the schema's {allowed}")
    return problems


def disagreements(spec: ModelSpec, schema: InputSchema) -> list[str]:
    """Where the registry and a model's live schema disagree, one readable line each."""
    problems = [
        f"{name}: the registry uses it, the schema does not declare it"
        for name in sorted(spec.input_names)
        if not schema.declares(name)
    ]
    problems += [
        f"{name}: the schema requires it, the registry never fills it"
        for name in unfillable_inputs(spec, schema)
    ]
    return problems + _value_disagreements(spec, schema)
