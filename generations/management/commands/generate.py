"""python manage.py generate PLAN.json [--wait] — create a generation from a plan file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coherence_project.conf import config
from generations.iterate.variations import create_with_variations
from generations.lifecycle.engine import get_model
from generations.management.commands._common import (
    add_wait_arguments,
    describe,
    wait_for_result,
)
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.limits import OPERATOR
from generations.services.plans import PlanReview, review_plan
from generations.services.request import FIRST_SCENE, GenerationRequest


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


def _usd(amount: Decimal | None) -> str:
    return "unknown" if amount is None else f"${amount:.4f}"


def _image_value(value: Any, base: Path) -> Any:
    """A plan's image: a data URI or https URL as is, else a file path (relative to the plan)."""
    if not isinstance(value, str) or value.startswith(("data:", "http://", "https://")):
        return value
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read image {path}: {exc.strerror}", returncode=2) from None


def plan_request(options: dict[str, Any]) -> GenerationRequest:
    """The request a plan file and the command line make (--preview, --variations included)."""
    plan = read_plan(options["plan"])
    settings_ = dict(plan.get("coherence_settings") or {})
    for flag, key, value in (
        ("no_seed_control", "seed_control", False),
        ("no_latent_reuse", "latent_reuse", False),
        ("color_match", "color_match", True),
    ):
        if options[flag]:
            settings_[key] = value
    if options["seed_mode"]:
        settings_["seed_mode"] = options["seed_mode"]
    base = options["plan"].resolve().parent
    scenes = plan.get("scenes")
    if isinstance(scenes, list):
        scenes = [
            {**s, "image": _image_value(s["image"], base)}
            if isinstance(s, dict) and "image" in s
            else s
            for s in scenes
        ]
    reference = options["reference_image"] or plan.get("reference_image")
    return GenerationRequest(
        scenes=scenes,
        title=options["title"] or plan.get("title", ""),
        coherence_settings=settings_,
        provider=options["provider"] or plan.get("provider"),
        model=options["model"] or plan.get("model"),
        seed=options["seed"] if options["seed"] is not None else plan.get("seed"),
        reference_image=_image_value(str(reference), base) if reference else None,
        quality="preview" if options["preview"] else Generation.Quality.FULL,
        variations=options["variations"],
        variations_scope=options["variations_scope"] or FIRST_SCENE,
    )


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
        parser.add_argument(
            "--preview", action="store_true", help="the model's cheapest settings (finalize later)"
        )
        parser.add_argument(
            "--variations", type=int, metavar="N", help="N seed variations to choose from (2..8)"
        )
        parser.add_argument("--variations-scope", choices=["first_scene", "plan"])
        add_wait_arguments(parser)
        parser.add_argument(
            "--reference-image",
            type=Path,
            help="start image (PNG/JPEG/WebP) for every chain head that has none of its own",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the plan and print its estimated cost per scene and in total; create "
            "nothing",
        )

    def print_estimate(self, review: PlanReview) -> None:
        spec = get_model(review.model)
        costs = review.hosted.estimate.per_scene
        self.stdout.write(f"model {review.model} ({spec.price_note or 'no price note'})")
        for index, (scene, cost) in enumerate(zip(review.plan, costs, strict=True)):
            rendered = spec.rendered_seconds(scene["duration"], config.VIDEO_FPS)
            self.stdout.write(
                f"scene {index + 1}: {scene['duration']:g} s planned, {rendered:g} s rendered, "
                f"{_usd(cost)}"
            )
        total = review.hosted.estimate.total
        self.stdout.write(f"total: {_usd(total)} (cap ${config.MAX_COST_USD:.2f})")
        for warning in review.hosted.warnings:
            self.stdout.write(f"warning: {warning}")
        self.stdout.write("dry run: nothing was created")

    @staticmethod
    def create(request: GenerationRequest) -> Any:
        """A generation, a preview (--preview) or a parent with seed variations (--variations)."""
        if request.variations is None:
            return create_generation(request, actor=OPERATOR)
        return create_with_variations(request, actor=OPERATOR)

    def handle(self, *args: Any, **options: Any) -> None:
        request = plan_request(options)
        try:
            if options["dry_run"]:
                self.print_estimate(review_plan(request))
                return
            generation = self.create(request)
        except ValidationError as exc:
            # Exit 2 (a usage error): nothing was created, and no prediction exists.
            raise CommandError(f"Invalid plan: {describe(exc)}", returncode=2) from None
        self.stdout.write(
            f"created generation {generation.pk} ({generation.scenes.count()} scenes)"
        )
        if options["variations"] is not None:
            self.stdout.write(
                f"{options['variations']} variations queued; rank them with "
                f"python manage.py variations {generation.pk}"
            )
            return
        if not (options["wait"] or options["run_cluster"]):
            self.stdout.write(
                "queued: a running qcluster will pick it up (python manage.py workers)"
            )
            return
        wait_for_result(
            self.stdout,
            generation,
            run_cluster=options["run_cluster"],
            timeout=options["timeout"],
            show=options["verbosity"] > 0,
        )
