"""Iteration benchmark: what a re-render, a preview and a chosen variation cost against doing
the whole plan again, on the local model at the house format (512x288, 24 fps).

Runs in-process with django-q2 in sync mode (tasks inline) on a throwaway database, so the
figures are the pipeline's own work: predictions sent, seconds of video rendered, wall time.
Prints ratios measured in this one run (medians of REPEATS).

    python -m bench.iterate_bench
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coherence_project.test_settings")
os.environ.setdefault("COHERENCE_VAR_DIR", tempfile.mkdtemp(prefix="coherence-bench-"))

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from generations.iterate.finalize import finalize_preview  # noqa: E402
from generations.iterate.rerender import rerender_scene  # noqa: E402
from generations.iterate.variations import choose_variation, create_with_variations  # noqa: E402
from generations.models import Generation  # noqa: E402
from generations.services.create import create_generation  # noqa: E402
from generations.services.reproduce import regenerate_generation  # noqa: E402
from generations.services.request import GenerationRequest  # noqa: E402

REPEATS = 3
PLAN = [
    {"prompt": "a red fox runs through snow", "duration": 2.0, "continuous": False},
    {"prompt": "the fox leaps over a log", "duration": 2.0, "continuous": True},
    {"prompt": "a quiet lake at dawn", "duration": 2.0, "continuous": False},
    {"prompt": "mist rises over the lake", "duration": 2.0, "continuous": True},
]


def predictions() -> int:
    folder = Path(settings.MEDIA_ROOT) / "local-predictions"
    return sum(1 for _ in folder.iterdir()) if folder.exists() else 0


def measure(action: Callable[[], Generation]) -> tuple[float, int, Generation]:
    before, start = predictions(), time.perf_counter()
    generation = action()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return time.perf_counter() - start, predictions() - before, generation


def median_of(action: Callable[[], Generation]) -> tuple[float, int]:
    runs = [measure(action) for _ in range(REPEATS)]
    return statistics.median(r[0] for r in runs), runs[0][1]


def main() -> None:
    settings.COHERENCE = {
        **settings.COHERENCE,
        "VIDEO_WIDTH": 512,
        "VIDEO_HEIGHT": 288,
        "VIDEO_FPS": 24,
    }
    call_command("migrate", verbosity=0)
    _, _, original = measure(lambda: create_generation(GenerationRequest(scenes=PLAN, seed=7)))
    full_s, full_n = median_of(lambda: regenerate_generation(source=original))
    rerender_s, rerender_n = median_of(lambda: rerender_scene(source=original, number=3))
    preview_s, preview_n = median_of(
        lambda: create_generation(GenerationRequest(scenes=PLAN, seed=7, quality="preview"))
    )
    # A preview is finalized once (a second finalize returns the first): one fresh preview a run.
    fresh = iter(
        [
            measure(
                lambda: create_generation(GenerationRequest(scenes=PLAN, seed=7, quality="preview"))
            )[2]
            for _ in range(REPEATS)
        ]
    )
    finalize_s, _ = median_of(lambda: finalize_preview(preview=next(fresh))[0])

    def chosen() -> Generation:
        parent = create_with_variations(GenerationRequest(variations=2, scenes=PLAN))
        return choose_variation(parent=parent, number=1)

    choose_s, choose_n = median_of(chosen)
    print(f"whole plan again (regenerate): {full_s:.2f} s, {full_n} predictions")
    print(
        f"re-render scene 3 of 4 (4 continuous): {rerender_s:.2f} s, {rerender_n} predictions; "
        f"wall / regenerate = {rerender_s / full_s:.2f}, predictions / regenerate = "
        f"{rerender_n / full_n:.2f}"
    )
    print(
        f"preview: {preview_s:.2f} s, {preview_n} predictions; wall / full = "
        f"{preview_s / full_s:.2f}; preview + finalize / full = "
        f"{(preview_s + finalize_s) / full_s:.2f}"
    )
    print(
        f"2 first-scene variations + choose: {choose_s:.2f} s, {choose_n} predictions; "
        f"predictions / (variations + whole plan) = {choose_n / (2 + full_n):.2f}"
    )


if __name__ == "__main__":
    main()
