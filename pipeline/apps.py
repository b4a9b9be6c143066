from typing import Any

from django.apps import AppConfig


def warm_up_worker(**kwargs: Any) -> None:
    """Import the heavy video/scoring modules when a django-q2 worker spawns, so the first scene a
    worker runs does not pay seconds of imports (numpy, PyAV, scikit-image, matplotlib)."""
    import pipeline.coherence.colour
    import pipeline.coherence.drawing
    import pipeline.coherence.score
    import pipeline.localmodel
    import pipeline.orchestration  # noqa: F401


class PipelineConfig(AppConfig):
    name = "pipeline"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        post_spawn.connect(warm_up_worker, dispatch_uid="coherence-warm-up-worker")
