"""python manage.py workers — the task workers (django-q2's qcluster), stoppable by any signal."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.lifecycle.workers import supervise

DEFAULT_GRACE = 8.0


class Command(BaseCommand):
    help = (
        "Run django-q2's qcluster in a session of its own and stop it cleanly at SIGTERM (to this "
        "process or its whole group), SIGINT or SIGHUP: tasks in hand finish, and whatever is "
        "left after --grace seconds is killed (its work is taken up again once its lease lapses). "
        "Use this instead of `qcluster` (django-q2 issue #346)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            default=DEFAULT_GRACE,
            help=f"seconds a stop waits for tasks in hand (default {DEFAULT_GRACE:g})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        grace = options["grace"]
        if not 0 <= grace <= 3600:
            raise CommandError("--grace must be between 0 and 3600 seconds.", returncode=2)
        status = supervise(grace=grace, say=self._say)
        if status:
            sys.exit(status)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
