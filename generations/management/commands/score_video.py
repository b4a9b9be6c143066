"""python manage.py score_video CLIP [CLIP ...] [--json] [--png OUT.png] - score any footage.

The clips are scored as consecutive scenes of one video, with no generation and no plan, by the
same function a generation's finish step uses (``pipeline.coherence.score``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.coherence.drawing import format_report_table, render_report_png
from pipeline.coherence.frames import CoherenceError
from pipeline.coherence.score import score_video


class Command(BaseCommand):
    help = "Score mp4 clips as consecutive scenes of one video; --json for the report as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clips", nargs="+", type=Path, metavar="CLIP")
        parser.add_argument("--png", type=Path, metavar="OUT.png", help="write the chart here")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = score_video(options["clips"])
        except CoherenceError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        else:
            self.stdout.write(format_report_table(report))
        if options["png"]:
            try:
                render_report_png(report, options["png"])
            except OSError as exc:
                reason = exc.strerror or exc
                raise CommandError(f"Cannot write {options['png']}: {reason}") from None
            self.stderr.write(f"wrote {options['png']}")  # stderr: --json stays machine-readable
