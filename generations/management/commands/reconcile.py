"""python manage.py reconcile — move anything stuck (the same job the periodic schedule runs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from generations.lifecycle.reconciler import reconcile


class Command(BaseCommand):
    help = "Restart lost work: lost start tasks, scenes lost mid-submission, polls, stitches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-after",
            type=float,
            help="seconds after which claimed work counts as lost (default: settings)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = reconcile(stale_after=options["stale_after"])
        self.stdout.write(
            f"started {len(report.started)} generation(s), resubmitted {len(report.resubmitted)} "
            f"scene(s), enqueued {len(report.scenes_enqueued)} ready scene(s), polled "
            f"{len(report.polled)} prediction(s), finishing {len(report.finished)} generation(s)"
        )
