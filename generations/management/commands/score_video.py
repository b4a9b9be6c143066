"""python manage.py score_video CLIP [CLIP ...] [--json] [--png OUT.png] - score any footage.

The clips are scored as consecutive scenes of one video, with no generation and no plan, by the
same function a generation's finish step uses (``pipeline.coherence.score``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.management.commands._common import write_report
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
        write_report(self, report, as_json=options["json"], png=options["png"])
