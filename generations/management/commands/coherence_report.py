"""python manage.py coherence_report GENERATION_ID [--png out.png] [--json] — show a coherence
report as a table (or JSON), and optionally write its picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.management.commands._common import load_generation, write_report


class Command(BaseCommand):
    help = "Print a generation's coherence report as a table or JSON; --png writes the chart."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("generation_id")
        parser.add_argument("--png", type=Path, metavar="OUT.png", help="write the chart here")
        parser.add_argument("--json", action="store_true", help="print the stored report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        generation = load_generation(options["generation_id"])
        report = generation.coherence_report
        if not report:
            raise CommandError(
                f"Generation {generation.pk} has no coherence report yet (it is "
                f"{generation.status}); reports are made when a generation succeeds."
            )
        write_report(
            self,
            report,
            as_json=options["json"],
            png=options["png"],
            title=f"generation: {generation.pk}  {generation.title}".rstrip(),
        )
