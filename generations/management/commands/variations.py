"""List a generation's seed variations, best coherence first, or choose one.

python manage.py variations GENERATION_ID [--choose K [--wait] [--run-cluster]]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.iterate.variations import (
    NoSuchVariation,
    VariationStateError,
    choose_variation,
    chosen_variation,
    measured,
    noise_label,
    ranked_variations,
)
from generations.management.commands._common import (
    add_wait_arguments,
    finish_command,
    load_generation,
)


class Command(BaseCommand):
    help = "Rank a generation's seed variations by coherence score, or choose one (--choose K)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("generation_id")
        parser.add_argument("--choose", type=int, metavar="K", help="start with variation K")
        add_wait_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        parent = load_generation(options["generation_id"])
        ranked = ranked_variations(parent)
        if not ranked:
            raise CommandError(f"Generation {parent.pk} has no variations.")
        if options["choose"] is None:
            self.print_ranking(parent, ranked)
            return
        try:
            generation = choose_variation(parent=parent, number=options["choose"])
        except (NoSuchVariation, VariationStateError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"chose variation {options['choose']} (seed {generation.seed}) for {parent.pk}"
        )
        finish_command(self.stdout, generation, options)

    def print_ranking(self, parent: Any, ranked: list[Any]) -> None:
        chosen = chosen_variation(parent)
        self.stdout.write(f"generation {parent.pk}: {parent.status} ({parent.stage})")
        self.stdout.write(
            f"{'rank':>4}  {'k':>2}  {'seed':>10}  {'score':>6}  {'noise':>9}  status"
        )
        for rank, variation in enumerate(ranked, start=1):
            score = "-" if variation.coherence_score is None else f"{variation.coherence_score:.4f}"
            noise = noise_label(measured(variation.coherence_report, "noise"))
            mark = "  <- chosen" if variation == chosen else ""
            self.stdout.write(
                f"{rank:>4}  {variation.variation_number:>2}  {variation.seed:>10}  "
                f"{score:>6}  {noise:>9}  {variation.status}{mark}"
            )
