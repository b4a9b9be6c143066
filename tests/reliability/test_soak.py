"""Load + injected faults through the API: every generation finishes, one prediction per scene.

The loopback Replicate server answers 10% of requests with a 5xx, 5% with a 429 + Retry-After,
and with random latency. COHERENCE_SOAK_GENERATIONS sets the size: 12 in `make test` and CI (a
short soak, about a quarter of the old 50's 226 s), 150 in `make soak`.
Tasks run inline (django-q2 sync mode), so throughput here is one process's; the multi-process
shapes are covered by tests/integration.
"""

import os
import statistics
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from generations.models import Generation
from pipeline import media
from pipeline.providers import reset_providers
from pipeline.providers.registry import SEEDANCE_LITE
from tests.support.replicate import TOKEN, make_server

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_task_failures", "user_may_use_hosted_models"),
    pytest.mark.soak,
]

SIZE = int(os.environ.get("COHERENCE_SOAK_GENERATIONS", "12"))
# Mixed chains: [1, 2c, 3c] [4] [5, 6c]
SHAPE = (False, True, True, False, False, True)


def plan_for(number: int) -> list[dict]:
    return [
        {"prompt": f"soak {number} scene {i + 1}", "duration": 0.5, "continuous": continuous}
        for i, continuous in enumerate(SHAPE)
    ]


def test_generations_under_faults_all_finish_with_one_prediction_per_scene(
    settings, media_root, user
):
    client = APIClient()
    client.force_authenticate(user)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"generation_create": "100000/min"},
    }
    with make_server(
        latency=(0.01, 0.06), error_rate_5xx=0.10, rate_429=0.05, retry_after=1, rng_seed=7
    ) as server:
        settings.REPLICATE_API_TOKEN = TOKEN
        settings.REPLICATE_BASE_URL = server.base_url
        settings.COHERENCE = {**settings.COHERENCE, "PUBLIC_URL": ""}
        reset_providers()
        started = time.monotonic()
        walls = []
        for number in range(SIZE):
            t0 = time.monotonic()
            response = client.post(
                "/api/generations/",
                {
                    "title": f"soak {number}",
                    "scenes": plan_for(number),
                    "provider": "replicate",
                    "model": SEEDANCE_LITE,
                },
                format="json",
            )
            assert response.status_code == 201, response.content
            walls.append(time.monotonic() - t0)
        elapsed = time.monotonic() - started
        reset_providers()

    generations = list(Generation.objects.prefetch_related("scenes"))
    assert len(generations) == SIZE
    failed = [(g.title, g.error) for g in generations if g.status != Generation.Status.SUCCEEDED]
    assert failed == []
    # Exactly one prediction per scene, despite 5xx and 429 on creates.
    assert len(server.created_by_model_prompt) == SIZE * len(SHAPE)
    assert set(server.created_by_model_prompt.values()) == {1}
    for generation in generations:
        info = media.probe(Path(media_root) / generation.video.name)
        assert info.frame_count == sum(s.frame_count for s in generation.scenes.all())
    faults = {k: v for k, v in server.responses_by_status.items() if k >= 429}
    ideal = statistics.median(walls)
    p95 = statistics.quantiles(walls, n=20)[18]
    print(
        f"\nsoak: {SIZE} generations x {len(SHAPE)} scenes in {elapsed:.1f} s "
        f"({SIZE / elapsed:.2f} generations/s); faults injected {faults}; "
        f"p95 generation time / median = {p95 / ideal:.2f}x"
    )
    assert sum(faults.values()) > 0  # the faults really were injected
