"""The same iteration code path on a hosted model: the real replicate client against the loopback
Replicate double (through the same helper the provider tests use)."""

from __future__ import annotations

import pytest

from generations.iterate.rerender import rerender_scene
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers.registry import SEEDANCE_LITE
from tests.generations.iterate.conftest import clip_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def created(server) -> int:
    return sum(server.created_by_model_prompt.values())


def test_rerendering_scene_3_on_a_hosted_model_sends_two_predictions(server, plan):
    original = create_generation(
        GenerationRequest(scenes=plan, provider="replicate", model=SEEDANCE_LITE)
    )
    original.refresh_from_db()
    assert original.status == Generation.Status.SUCCEEDED, original.error
    before = created(server)
    new = rerender_scene(source=original, number=3, prompt="a stormy lake at dusk")
    new.refresh_from_db()
    assert new.status == Generation.Status.SUCCEEDED, new.error
    assert created(server) - before == 2
    old, fresh = list(original.scenes.order_by("index")), list(new.scenes.order_by("index"))
    assert [clip_bytes(a) == clip_bytes(b) for a, b in zip(old, fresh, strict=True)][:2] == [
        True,
        True,
    ]
    # Scene 4 starts from the new scene 3's last frame, sent as the first-frame image.
    sent = server.prediction(fresh[3].prediction_id)["input"]
    assert fresh[3].handover_sha256 and "image" in sent


def test_a_hosted_preview_asks_for_the_cheapest_resolution_and_duration(server, plan):
    preview = create_generation(
        GenerationRequest(
            scenes=[dict(s, duration=5.0) for s in plan],
            provider="replicate",
            model=SEEDANCE_LITE,
            quality="preview",
        )
    )
    preview.refresh_from_db()
    assert preview.status == Generation.Status.SUCCEEDED, preview.error
    for scene in preview.scenes.all():
        sent = server.prediction(scene.prediction_id)["input"]
        assert (sent["resolution"], sent["duration"]) == ("480p", 2)
        assert scene.planned_duration == 5.0
