from typing import Any

from django.apps import AppConfig


def warm_up_worker(**kwargs: Any) -> None:
    """Import the heavy video/scoring modules and the tasks, and open the database connection
    (kept between tasks: CONN_MAX_AGE), when a django-q2 worker spawns: the first scene a worker
    runs then pays neither seconds of imports (numpy, PyAV, scikit-image, matplotlib) nor a
    connect and SQLite's schema load (3 ms idle, 20-35 ms on a busy two-core machine)."""
    from django.db import DatabaseError, connection
    from django_q.conf import Conf

    if Conf.SYNC:  # django-q2 sends this before every task run inline: the caller is warm already
        return
    import generations.tasks  # noqa: F401
    import pipeline.coherence
    import pipeline.providers.local  # noqa: F401
    from generations.models import Scene

    try:
        Scene.objects.filter(pk=None).exists()  # the first statement loads the schema
    except DatabaseError:  # the database is away: the first task connects (or fails) itself
        connection.close()


class GenerationsConfig(AppConfig):
    name = "generations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from generations.media.cleanup import connect_signals

        post_spawn.connect(warm_up_worker, dispatch_uid="coherence-warm-up-worker")
        connect_signals()
