"""What a caller asks to be made: one value that carries a request from every surface (the API,
the admin, ``manage.py generate``, and the services that reproduce or derive a generation) to
``create_generation`` / ``create_with_variations``.

Its fields are the one place the create request is defined: the API's create body is derived
from them (``API_FIELDS``; tests/services/test_request.py holds the serializer to it), so adding
a field means adding it here and validating it in the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from generations.models import Generation

# The scope of seed variations: the first scene alone (the default), or the whole plan.
FIRST_SCENE, PLAN = "first_scene", "plan"


@dataclass(frozen=True)
class GenerationRequest:
    """A generation as asked for; every value unvalidated (the services validate it)."""

    title: str = ""
    scenes: Any = None
    coherence_settings: Any = None  # the API's name; stored as Generation.render_settings
    provider: str | None = None
    model: str | None = None
    seed: Any = None
    quality: Any = Generation.Quality.FULL
    # Seed variations (generations.iterate.variations.create_with_variations only).
    variations: Any = None
    variations_scope: Any = FIRST_SCENE
    reference_image: Any = None
    webhook: Any = None
    webhook_events_filter: Any = None
    # Set when a generation is reproduced or derived from another, never by a request body:
    # what the source's predictions reported (a record, never sent) and the source itself.
    model_version: str = field(default="", metadata={"api": False})
    source_generation: Generation | None = field(default=None, metadata={"api": False})

    def without_variations(self) -> GenerationRequest:
        return replace(self, variations=None, variations_scope=FIRST_SCENE)

    def body_fields(self) -> dict[str, Any]:
        """The request-body fields that differ from their defaults (``scenes`` always): what an
        Idempotency-Key fingerprints."""
        found = {"scenes": self.scenes}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in API_FIELDS and value != item.default:
                found[item.name] = value
        return found


# The create body's fields, in the order the API documents them.
API_FIELDS: tuple[str, ...] = tuple(
    item.name for item in fields(GenerationRequest) if item.metadata.get("api", True)
)
