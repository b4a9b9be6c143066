from typing import Any

from django.apps import AppConfig


def warm_up_worker(**kwargs: Any) -> None:
    """Import the heavy video/scoring modules when a django-q2 worker spawns, so the first scene a
    worker runs does not pay seconds of imports (numpy, PyAV, scikit-image, matplotlib)."""
    import pipeline.coherence
    import pipeline.localmodel  # noqa: F401


class GenerationsConfig(AppConfig):
    name = "generations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from generations.media_cleanup import connect_signals

        post_spawn.connect(warm_up_worker, dispatch_uid="coherence-warm-up-worker")
        connect_signals()
