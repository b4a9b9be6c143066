"""Render a preview's plan and seed at full quality.

python manage.py finalize_preview PREVIEW_ID [--estimate] [--title T] [--wait] [--run-cluster]
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.iterate.finalize import check_finalizable, finalize_estimate, finalize_preview
from generations.management.commands._common import (
    add_wait_arguments,
    describe,
    finish_command,
    load_generation,
    money,
)


class Command(BaseCommand):
    help = "Render a preview generation's plan and seed at full quality."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("preview_id")
        parser.add_argument("--title", help="title of the new generation (default: the same)")
        parser.add_argument("--estimate", action="store_true", help="only print the cost")
        add_wait_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        preview = load_generation(options["preview_id"])
        try:
            check_finalizable(preview)
            self.stdout.write(
                f"estimated cost at full quality: {money(finalize_estimate(preview))}"
            )
            if options["estimate"]:
                return
            generation, created = finalize_preview(preview=preview, title=options["title"])
        except ValidationError as exc:
            raise CommandError(f"Cannot finalize: {describe(exc)}") from None
        if created:
            self.stdout.write(f"created generation {generation.pk} (full quality of {preview.pk})")
        else:
            self.stdout.write(
                f"already finalized as generation {generation.pk}: nothing new started"
            )
        finish_command(self.stdout, generation, options)
