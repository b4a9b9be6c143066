"""python manage.py sync_models [MODEL ...] — fetch and store hosted models' live input schemas.

Exits 1 when any model's schema disagrees with the registry (or cannot be fetched), so a deploy
script can stop before scenes are built against a registry that is out of date.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.lifecycle.engine import get_provider, model_registry
from generations.services.hosted_models import sync_schema
from pipeline.providers.registry import REPLICATE_PROVIDER, UnknownModelError


class Command(BaseCommand):
    help = "Fetch each hosted model's input schema (GET /v1/models/{owner}/{name}) and store it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="default: every hosted model in the registry")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            registry = model_registry()
            specs = [registry.get(name) for name in options["models"]] or registry.hosted()
        except UnknownModelError as exc:
            raise CommandError(str(exc), returncode=2) from None
        provider = get_provider(REPLICATE_PROVIDER)
        failed = 0
        for spec in specs:
            result = sync_schema(spec=spec, provider=provider)
            if result.error:
                self.stdout.write(f"{spec.name}: NOT FETCHED: {result.error}")
            elif result.disagreements:
                self.stdout.write(f"{spec.name}: schema {result.fingerprint[:12]} DISAGREES:")
                for line in result.disagreements:
                    self.stdout.write(f"  - {line}")
            else:
                self.stdout.write(f"{spec.name}: schema {result.fingerprint[:12]} matches")
            failed += not result.ok
        if failed:
            raise CommandError(f"{failed} of {len(specs)} model(s) disagree with the registry")
