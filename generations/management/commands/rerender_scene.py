"""Re-render one scene of a generation; every other scene is copied, not rendered again.

python manage.py rerender_scene GENERATION_ID SCENE_NUMBER [--prompt TEXT] [--duration S]
    [--seed N | --new-seed] [--title T] [--estimate] [--wait] [--run-cluster]
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.iterate.rerender import plan_rerender, rerender_scene
from generations.management.commands._common import (
    add_wait_arguments,
    describe,
    finish_command,
    load_generation,
    money,
    seed_choice,
)


def _numbers(indexes: tuple[int, ...]) -> str:
    return ", ".join(str(index + 1) for index in indexes) or "none"


class Command(BaseCommand):
    help = (
        "Re-render scene N (1-based) of a generation, and the continuous scenes after it; "
        "reuse every other scene's render (no prediction, no cost)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("generation_id")
        parser.add_argument("scene", type=int, help="the scene to re-render, counted from 1")
        parser.add_argument("--prompt", help="a new prompt for the scene")
        parser.add_argument("--duration", type=float, help="a new duration in seconds")
        seed = parser.add_mutually_exclusive_group()
        seed.add_argument("--seed", type=int, help="a seed for this scene alone")
        seed.add_argument("--new-seed", action="store_true", help="a fresh seed for this scene")
        parser.add_argument("--title", help="title of the new generation (default: the same)")
        parser.add_argument(
            "--estimate", action="store_true", help="only say what would render and cost"
        )
        add_wait_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        source = load_generation(options["generation_id"])
        seed = seed_choice(options)
        try:
            planned = plan_rerender(
                source=source, number=options["scene"], duration=options["duration"]
            )
            self.stdout.write(
                f"renders scene(s) {_numbers(planned.rendered)}; reuses scene(s) "
                f"{_numbers(planned.reused)}; estimated cost {money(planned.estimated_cost)}"
            )
            if options["estimate"]:
                return
            generation = rerender_scene(
                source=source,
                number=options["scene"],
                prompt=options["prompt"],
                duration=options["duration"],
                seed=seed,
                title=options["title"],
            )
        except ValidationError as exc:
            raise CommandError(f"Cannot re-render: {describe(exc)}") from None
        self.stdout.write(f"created generation {generation.pk} (from {source.pk})")
        finish_command(self.stdout, generation, options)
