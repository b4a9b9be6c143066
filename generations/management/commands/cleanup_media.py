"""Remove media no row references, stale provider scratch and (with a retention) old files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coherence_project.conf import config
from generations.media.cleanup import MIN_AGE, sweep


class Command(BaseCommand):
    help = (
        "Delete media files no generation or scene references (older than --min-age, default an "
        "hour, so work in progress is never touched), the local model's stale scratch, and, when "
        "COHERENCE_RETENTION_DAYS is set, the files of generations finished longer ago than that. "
        "Nothing a live row references is ever removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would go; delete nothing"
        )
        parser.add_argument(
            "--min-age",
            type=float,
            default=MIN_AGE.total_seconds(),
            help="seconds a loose file must be old before it is removed (default 3600)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["min_age"] < 0:
            raise CommandError("--min-age must be zero or more seconds.")
        retention = config.RETENTION_DAYS
        if retention is not None and retention < 1:
            raise CommandError("COHERENCE_RETENTION_DAYS must be 1 or more (days).")
        result = sweep(
            dry_run=options["dry_run"],
            retention_days=retention,
            min_age=timedelta(seconds=options["min_age"]),
        )
        verb = "would remove" if options["dry_run"] else "removed"
        for label, names in (
            ("expired", result.expired),
            ("unreferenced", result.orphans),
            ("scratch", result.scratch),
        ):
            for name in names:
                self.stdout.write(f"{verb} {label}: {name}")
        if retention is not None:
            self.stdout.write(
                f"{result.expired_generations} generation(s) past {retention} day(s) of retention"
            )
        self.stdout.write(
            f"{verb} {len(result.expired)} expired file(s), {len(result.orphans)} unreferenced "
            f"file(s), {len(result.scratch)} scratch folder(s)"
        )
