"""python manage.py generate PLAN.json [--wait] — create a generation from a plan file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.caps import OPERATOR
from generations.management.commands._common import describe, wait_for_result
from generations.services import create_generation


def read_plan(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"Plan file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read plan file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"Plan file {path} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        return {"scenes": data}
    if not isinstance(data, dict):
        raise CommandError(f"Plan file {path} must hold an object with 'scenes', or a list.")
    return data


class Command(BaseCommand):
    help = "Create a generation from a JSON plan; with --wait, show progress until it ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("plan", type=Path)
        parser.add_argument("--title")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--no-seed-control", action="store_true")
        parser.add_argument("--no-latent-reuse", action="store_true")
        parser.add_argument("--seed-mode", choices=["shared", "offset"])
        parser.add_argument("--color-match", action="store_true")
        parser.add_argument("--provider")
        parser.add_argument("--model")
        parser.add_argument("--wait", action="store_true", help="wait, with a progress bar")
        parser.add_argument(
            "--run-cluster",
            action="store_true",
            help="start a django-q2 cluster for the duration (implies --wait)",
        )
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args: Any, **options: Any) -> None:
        plan = read_plan(options["plan"])
        settings_ = dict(plan.get("coherence_settings") or {})
        if options["no_seed_control"]:
            settings_["seed_control"] = False
        if options["no_latent_reuse"]:
            settings_["latent_reuse"] = False
        if options["seed_mode"]:
            settings_["seed_mode"] = options["seed_mode"]
        if options["color_match"]:
            settings_["color_match"] = True
        try:
            generation = create_generation(
                scenes=plan.get("scenes"),
                title=options["title"] or plan.get("title", ""),
                coherence_settings=settings_,
                provider=options["provider"] or plan.get("provider"),
                model=options["model"] or plan.get("model"),
                seed=options["seed"] if options["seed"] is not None else plan.get("seed"),
                actor=OPERATOR,
            )
        except ValidationError as exc:
            raise CommandError(f"Invalid plan: {describe(exc)}") from None
        self.stdout.write(
            f"created generation {generation.pk} ({generation.scenes.count()} scenes)"
        )
        if not (options["wait"] or options["run_cluster"]):
            self.stdout.write(
                "queued: a running qcluster will pick it up (python manage.py qcluster)"
            )
            return
        wait_for_result(
            self.stdout,
            generation,
            run_cluster=options["run_cluster"],
            timeout=options["timeout"],
            show=options["verbosity"] > 0,
        )
